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

// batchFrames is how many frames a worker takes per batch: the pipeline
// lock is held and transmission waits for that long. Small batches keep
// bursts toward the receiving hosts short (a burst of a whole ring block
// of small frames overflows a host's socket buffer where the same frames
// spread out would not); the per-batch costs (lock, clock, one sendto) are
// still spread over many frames.
const batchFrames = 64

// worker forwards one direction: frames received on in go out on out.
type worker struct {
	e        *Engine
	in, out  uint8
	dir      packet.Direction
	handleFn func(*afpacket.Frame) // w.handle, bound once so Receive allocates nothing
	judgeFn  frag.Judge            // w.judge, likewise

	// Per-batch state, used only by this worker's goroutine; the pipeline
	// part of a batch runs under Engine.mu.
	now            time.Time
	frame          packet.Frame
	rxFrames       uint64
	rxBytes        uint64
	txFrames       uint64
	txBytes        uint64
	txErrors       uint64
	verifyChecksum bool
	rewrite        bool
}

func (w *worker) init(e *Engine, in uint8, dir packet.Direction) {
	w.e, w.in, w.out, w.dir = e, in, 1-in, dir
	w.handleFn = w.handle
	w.judgeFn = w.judge
}

// run is the worker's loop. It reports progress (markProgress) after every
// batch and after every wait that found nothing, never merely for coming
// round: under a flood the drain below may not return to the wait for as
// long as the flood lasts, and that loop is as healthy as an idle one. A
// loop blocked inside a batch or a wait reports nothing, and its progress
// goes stale.
func (w *worker) run(ctx context.Context) {
	in := w.e.ports[w.in]
	w.markProgress(time.Now())
	for ctx.Err() == nil {
		if !in.Wait(pollInterval) {
			w.markProgress(time.Now())
			continue
		}
		// Drain what is ready in batches before waiting again; each batch
		// marks its own progress.
		for w.pump() == batchFrames && ctx.Err() == nil {
		}
	}
}

// markProgress records that the loop finished a batch or an idle wait at t,
// on the engine's monotonic clock.
func (w *worker) markProgress(t time.Time) {
	w.e.counters[w.in].progress.Store(max(int64(t.Sub(w.e.epoch)), 1))
}

// pump forwards one batch: the pipeline runs under the engine lock, the
// flush (where the kernel does the real work of transmitting) after it.
func (w *worker) pump() int {
	e := w.e
	e.mu.Lock()
	e.txMu[w.out].Lock()
	w.now = time.Now()
	w.verifyChecksum = e.pol.VerifyChecksums == config.VerifyAll
	w.rewrite = e.pol.MinTTL > 0 || e.pol.MaxMSS > 0 || e.pol.ClearDF || e.pol.RandomIPID
	n := e.ports[w.in].Receive(w.handleFn, batchFrames)
	e.mu.Unlock()
	e.ports[w.out].Flush()
	e.txMu[w.out].Unlock()
	w.publish()
	w.markProgress(time.Now())
	return n
}

// publish adds the batch's frame and byte counts to the shared counters.
func (w *worker) publish() {
	c := &w.e.counters
	if w.rxFrames != 0 {
		c[w.in].rxFrames.Add(w.rxFrames)
		c[w.in].rxBytes.Add(w.rxBytes)
		w.rxFrames, w.rxBytes = 0, 0
	}
	if w.txFrames != 0 {
		c[w.out].txFrames.Add(w.txFrames)
		c[w.out].txBytes.Add(w.txBytes)
		c[w.in].lastForward.Store(w.now.UnixNano())
		w.txFrames, w.txBytes = 0, 0
	}
	if w.txErrors != 0 {
		c[w.out].txErrors.Add(w.txErrors)
		w.txErrors = 0
	}
}

// handle runs one received frame through the pipeline. Each stage returns
// a reason; the first that is not None drops the frame.
func (w *worker) handle(rf *afpacket.Frame) {
	e := w.e
	w.rxFrames++
	w.rxBytes += uint64(len(rf.Data))
	f := &w.frame
	r := f.Decode(rf.Data, &e.pol)

	// Q1: a quarantined source's frames go first, before any other work.
	// A frame the kernel cut to its headers came from a source that was
	// quarantined when it arrived (package shed): it cannot be forwarded
	// whatever the table says now.
	keys, n := source.Keys(f, w.dir)
	if rf.Cut || n > 0 && e.quar.Blocked(keys, n, w.now) {
		e.drop(w.in, rf.Time, keys, n, reason.Quarantined, rf.Data, w.now)
		return
	}
	if r != reason.None {
		e.drop(w.in, rf.Time, keys, n, r, rf.Data, w.now)
		return
	}
	if f.Fragment {
		// Held, or released with its whole datagram through fragSink.
		e.cur = w
		r = e.frag.Submit(w.in, w.dir, f, w.now, w.judgeFn)
		e.cur = nil
		if r != reason.None {
			e.drop(w.in, rf.Time, keys, n, r, rf.Data, w.now)
		}
		return
	}
	if rf.ChecksumPending {
		// The sender left the checksum to offload; fill it in before it
		// is checked and before it leaves.
		packet.FixTransportChecksum(f)
	}
	if f.IPVersion != 0 {
		if r = packet.CheckTransport(f, w.verifyChecksum); r == reason.None {
			r = e.filt.Decide(f, w.dir, w.now)
		}
		if r != reason.None {
			e.drop(w.in, rf.Time, keys, n, r, rf.Data, w.now)
			return
		}
		if w.rewrite {
			f.Rewrite(&e.pol)
		}
	}
	w.transmit(f.Data)
}

// judge is the filter's verdict on a reassembled datagram.
func (w *worker) judge(whole *packet.Frame, dir packet.Direction) reason.Reason {
	return w.e.filt.Decide(whole, dir, w.now)
}

// transmit queues a frame on the worker's output port; the caller holds
// that port's transmit lock.
func (w *worker) transmit(frame []byte) {
	if err := w.e.ports[w.out].Send(frame); err != nil {
		w.txErrors++
		return
	}
	w.txFrames++
	w.txBytes += uint64(len(frame))
}

// drop counts a dropped frame on the port it arrived on, charges it to its
// sources and keeps it in the capture ring. A quarantined source's frames
// are counted and charged but not captured: under a flood they would push
// the violations that explain the quarantine out of the ring within
// milliseconds, and copying them is most of what a quarantined frame would
// otherwise cost.
func (e *Engine) drop(port uint8, ts time.Time, keys [source.MaxKeys]source.Key, n int, r reason.Reason, frame []byte, now time.Time) {
	e.counters[port].drops[r].Add(1)
	if n > 0 {
		e.quar.Charge(keys, n, r, now)
	}
	if r != reason.Quarantined {
		e.capt.Add(ts, port, r, keys, n, frame)
	}
}

// fragSink is the Engine seen by the reassembler. It is only called with
// Engine.mu held: from Submit (e.cur set) or from Expire.
type fragSink Engine

func dirOf(port uint8) packet.Direction {
	if port == Uplink {
		return packet.In
	}
	return packet.Out
}

// Release forwards a fragment of a datagram that passed, to the port
// opposite the one it arrived on.
func (s *fragSink) Release(port uint8, frame []byte) {
	e := (*Engine)(s)
	w := e.cur
	if w != nil && w.in == port {
		w.transmit(frame)
		return
	}
	// A datagram whose fragments arrived on both ports: the held fragment
	// goes out through the other worker's port, under that port's lock.
	out := 1 - port
	e.txMu[out].Lock()
	err := e.ports[out].Send(frame)
	e.ports[out].Flush()
	e.txMu[out].Unlock()
	if err != nil {
		e.counters[out].txErrors.Add(1)
		return
	}
	e.counters[out].txFrames.Add(1)
	e.counters[out].txBytes.Add(uint64(len(frame)))
}

// Drop accounts for a held fragment that died with its datagram.
func (s *fragSink) Drop(port uint8, frame []byte, r reason.Reason, f *packet.Frame) {
	e := (*Engine)(s)
	keys, n := source.Keys(f, dirOf(port))
	now := time.Now()
	if w := e.cur; w != nil {
		now = w.now
	}
	e.drop(port, now, keys, n, r, frame, now)
}
