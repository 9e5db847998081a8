package dataplane

import (
	"context"
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/frag"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// batchFrames is how many frames a worker takes from a queue per batch:
// transmission waits for that long. Small batches keep bursts toward the
// receiving hosts short (a burst of a whole ring block of small frames
// overflows a host's socket buffer where the same frames spread out would
// not); the per-batch costs (clock, policy load, one sendto) are still
// spread over many frames.
const batchFrames = 64

// worker is one packet loop. It serves queue id of both ports: frames
// received on one port's queue go out through its queue on the other
// port, which no other worker touches, so transmitting takes no lock.
type worker struct {
	e        *Engine
	id       int
	handleFn func(*afpacket.Frame) // w.handle, bound once so Receive allocates nothing
	judgeFn  frag.Judge            // w.judge, likewise

	// counters[port] are this worker's share of the port's counters.
	counters [2]portCounters

	// Per-batch state, used only by this worker's goroutine.
	in, out        uint8 // the port being received on, and the other one
	dir            packet.Direction
	pol            *config.Policy
	now            time.Time
	frame          packet.Frame
	rxFrames       uint64 // wire frames: an aggregate counts its segments
	rxBytes        uint64
	segs           int // wire frames the frame being handled stands for
	txFrames       [2]uint64
	txBytes        [2]uint64
	txErrors       [2]uint64
	queued         [2]bool // frames were sent on the port since its last flush
	verifyChecksum bool
	rewrite        bool

	// Workers sit side by side in Engine.workers: keep this one's
	// per-frame writes off the next one's cache lines.
	_ [64]byte
}

func (w *worker) init(e *Engine, id int) {
	w.e, w.id = e, id
	w.handleFn = w.handle
	w.judgeFn = w.judge
}

// queue is this worker's queue on port p.
func (w *worker) queue(p uint8) Port { return w.e.queues[p][w.id] }

// run is the worker's loop. It reports progress for a port
// (markProgress) after every batch taken from its queue and after every
// wait that found nothing, never merely for coming round: under a flood
// the drain below may not return to the wait for as long as the flood
// lasts, and that loop is as healthy as an idle one. A loop blocked
// inside a batch or a wait reports nothing, and its progress goes stale.
func (w *worker) run(ctx context.Context) {
	up, rack := w.queue(Uplink), w.queue(Rack)
	now := time.Now()
	w.markProgress(Uplink, now)
	w.markProgress(Rack, now)
	for ctx.Err() == nil {
		if !waitPair(up, rack, pollInterval) {
			now := time.Now()
			w.markProgress(Uplink, now)
			w.markProgress(Rack, now)
			continue
		}
		// Drain both queues a batch at a time, in turns, so a flood on
		// one port does not starve the other, before waiting again.
		for ctx.Err() == nil {
			a := w.pump(Uplink)
			b := w.pump(Rack)
			if a < batchFrames && b < batchFrames {
				break
			}
		}
	}
}

// markProgress records that the loop finished a batch or an idle wait on
// port p at t, on the engine's monotonic clock.
func (w *worker) markProgress(p uint8, t time.Time) {
	w.counters[p].progress.Store(max(int64(t.Sub(w.e.epoch)), 1))
}

// pump forwards one batch from this worker's queue on port in and
// flushes what it queued for transmission.
func (w *worker) pump(in uint8) int {
	e := w.e
	w.in, w.out, w.dir = in, 1-in, dirOf(in)
	w.now = time.Now()
	w.pol = e.pol.Load()
	w.verifyChecksum = w.pol.VerifyChecksums == config.VerifyAll
	w.rewrite = w.pol.MinTTL > 0 || w.pol.MaxMSS > 0 || w.pol.ClearDF || w.pol.RandomIPID
	n := w.queue(in).Receive(w.handleFn, batchFrames)
	for p := range w.queued {
		if w.queued[p] {
			w.queue(uint8(p)).Flush()
			w.queued[p] = false
		}
	}
	w.publish()
	w.markProgress(in, time.Now())
	return n
}

// publish adds the batch's frame and byte counts to the worker's counters.
func (w *worker) publish() {
	c := &w.counters
	if w.rxFrames != 0 {
		c[w.in].rxFrames.Add(w.rxFrames)
		c[w.in].rxBytes.Add(w.rxBytes)
		w.rxFrames, w.rxBytes = 0, 0
	}
	for p := range c {
		if w.txFrames[p] != 0 {
			c[p].txFrames.Add(w.txFrames[p])
			c[p].txBytes.Add(w.txBytes[p])
			c[1-p].lastForward.Store(w.now.UnixNano())
			w.txFrames[p], w.txBytes[p] = 0, 0
		}
		if w.txErrors[p] != 0 {
			c[p].txErrors.Add(w.txErrors[p])
			w.txErrors[p] = 0
		}
	}
}

// handle runs one received frame through the pipeline. Each stage returns
// a reason; the first that is not None drops the frame.
func (w *worker) handle(rf *afpacket.Frame) {
	e := w.e
	w.rxBytes += uint64(len(rf.Data))
	f := &w.frame
	r := f.Decode(rf.Data, w.pol)
	if r == reason.None && rf.VNet != (afpacket.VNetHdr{}) {
		// L3: the offload state must agree with the headers it came
		// with; from here on an aggregate is judged once and counted
		// as the segments it holds.
		r = f.CheckVNetHdr(packet.VNetHdr(rf.VNet))
	}
	w.segs = f.Segments()
	w.rxFrames += uint64(w.segs)

	// Q1: a quarantined source's frames go first, before any other work.
	// A frame the kernel cut to its headers came from a source that was
	// quarantined when it arrived (package shed): it cannot be forwarded
	// whatever the table says now.
	keys, n := source.Keys(f, w.dir)
	if rf.Cut || n > 0 && e.quar.Blocked(keys, n, w.now) {
		w.drop(w.in, rf.Time, keys, n, reason.Quarantined, rf.Data)
		return
	}
	if r != reason.None {
		w.drop(w.in, rf.Time, keys, n, r, rf.Data)
		return
	}
	if f.Fragment {
		// Held, or released with its whole datagram through fragSink,
		// which transmits it through this worker.
		e.fragMu.Lock()
		e.fragCur = w
		r = e.frag.Submit(w.in, w.dir, f, w.now, w.judgeFn)
		e.fragCur = nil
		e.fragMu.Unlock()
		if r != reason.None {
			w.drop(w.in, rf.Time, keys, n, r, rf.Data)
		}
		return
	}
	if rf.ChecksumPending && !f.VNet.PartialChecksum() {
		// The sender left the checksum to offload and the port gave no
		// virtio_net_hdr to carry that on: fill it in before it is
		// checked and before it leaves. With one, it stays partial and
		// is completed by the transmitting kernel or NIC.
		packet.FixTransportChecksum(f)
	}
	if f.IPVersion != 0 {
		if r = packet.CheckTransport(f, w.verifyChecksum); r == reason.None {
			r = e.filt.Decide(f, w.dir, w.now)
		}
		if r != reason.None {
			w.drop(w.in, rf.Time, keys, n, r, rf.Data)
			return
		}
		if w.rewrite {
			f.Rewrite(w.pol)
		}
	}
	w.transmit(w.out, afpacket.VNetHdr(f.VNet), f.Data, w.segs)
}

// judge is the filter's verdict on a reassembled datagram.
func (w *worker) judge(whole *packet.Frame, dir packet.Direction) reason.Reason {
	return w.e.filt.Decide(whole, dir, w.now)
}

// transmit queues a frame on this worker's queue of port out with its
// offload state h (zero for a plain frame, which then leaves as by Send);
// pump flushes it at the end of the batch. segs is how many wire frames
// it stands for: an aggregate counts as the segments it becomes.
func (w *worker) transmit(out uint8, h afpacket.VNetHdr, frame []byte, segs int) {
	w.queued[out] = true
	if err := w.queue(out).SendVNet(h, frame); err != nil {
		w.txErrors[out]++
		return
	}
	w.txFrames[out] += uint64(segs)
	w.txBytes[out] += uint64(len(frame))
}

// drop counts a frame dropped by this worker on the port it arrived on,
// as the wire frames it stands for (w.segs).
func (w *worker) drop(port uint8, ts time.Time, keys [source.MaxKeys]source.Key, n int, r reason.Reason, frame []byte) {
	w.e.drop(&w.counters[port], port, ts, keys, n, r, frame, w.now, w.segs)
}

// drop counts a dropped frame in c, charges it to its sources and keeps
// it in the capture ring. A quarantined source's frames are counted and
// charged but not captured: under a flood they would push the violations
// that explain the quarantine out of the ring within milliseconds, and
// copying them is most of what a quarantined frame would otherwise cost.
//
// frames is how many wire frames the dropped one stands for: the segments
// of an offloaded aggregate, 1 otherwise. Counters and the quarantine
// threshold count them, so merging segments changes neither.
func (e *Engine) drop(c *portCounters, port uint8, ts time.Time, keys [source.MaxKeys]source.Key, n int, r reason.Reason, frame []byte, now time.Time, frames int) {
	c.drops[r].Add(uint64(frames))
	if n > 0 {
		e.quar.ChargeFrames(keys, n, r, now, frames)
	}
	if r != reason.Quarantined {
		e.capt.Add(ts, port, r, keys, n, frame)
	}
}

// fragSink is the Engine seen by the reassembler. It is only called with
// Engine.fragMu held: from Submit (fragCur set) or from Expire.
type fragSink Engine

func dirOf(port uint8) packet.Direction {
	if port == Uplink {
		return packet.In
	}
	return packet.Out
}

// Release forwards a fragment of a datagram that passed, to the port
// opposite the one it arrived on, through the worker that completed the
// datagram: it owns a queue on both ports, so a datagram whose fragments
// arrived on different workers, or on both ports, needs no hand-over.
func (s *fragSink) Release(port uint8, frame []byte) {
	e := (*Engine)(s)
	if w := e.fragCur; w != nil {
		w.transmit(1-port, afpacket.VNetHdr{}, frame, 1)
		return
	}
	// Only Submit completes datagrams; were that ever to change, the
	// fragment is counted as one that could not be queued, not lost
	// silently.
	e.hk[1-port].txErrors.Add(1)
}

// Drop accounts for a held fragment that died with its datagram.
func (s *fragSink) Drop(port uint8, frame []byte, r reason.Reason, f *packet.Frame) {
	e := (*Engine)(s)
	keys, n := source.Keys(f, dirOf(port))
	if w := e.fragCur; w != nil {
		w.drop(port, w.now, keys, n, r, frame)
		return
	}
	now := time.Now()
	e.drop(&e.hk[port], port, now, keys, n, r, frame, now, 1)
}
