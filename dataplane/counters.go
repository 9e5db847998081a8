package dataplane

import (
	"sync/atomic"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// Port indexes: frames arriving on the uplink travel In (toward the rack),
// frames arriving on the rack port travel Out.
const (
	Uplink uint8 = 0
	Rack   uint8 = 1
)

// portCounters are one worker's counts for one port, written by that
// worker alone and read lock-free by the control plane, which sums the
// workers'. Frame and byte counts are summed per batch and published once
// per batch; drops are rare enough to add one by one.
type portCounters struct {
	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64 // frames forwarded out of this port
	txErrors          atomic.Uint64 // frames the port refused to queue
	drops             [reason.Count]atomic.Uint64
	lastForward       atomic.Int64 // unix nanoseconds of the last frame forwarded from this port
	// progress is when the worker last finished a batch from its queue
	// on this port or a wait that found nothing, in nanoseconds since
	// Engine.epoch on the monotonic clock (0: not yet). Stored once per
	// batch and once per idle wait.
	progress atomic.Int64
	// The worker's other fields follow; keep this worker's writes off the
	// cache lines another worker writes.
	_ [64]byte
}

// addTo adds these counts to pc.
func (c *portCounters) addTo(pc *PortCounters) {
	pc.RxFrames += c.rxFrames.Load()
	pc.RxBytes += c.rxBytes.Load()
	pc.TxFrames += c.txFrames.Load()
	pc.TxBytes += c.txBytes.Load()
	pc.TxErrors += c.txErrors.Load()
	for r := range c.drops {
		pc.DropsByReason[r] += c.drops[r].Load()
	}
}

// PortCounters is one port's totals since the engine started.
type PortCounters struct {
	Name     string `json:"name"`
	RxFrames uint64 `json:"rx_frames"` // frames received on this port
	RxBytes  uint64 `json:"rx_bytes"`
	TxFrames uint64 `json:"tx_frames"` // frames transmitted on this port (forwarded from the other one)
	TxBytes  uint64 `json:"tx_bytes"`
	// Forwarded counts frames received on this port that passed the policy.
	Forwarded uint64 `json:"forwarded"`
	// Drops counts frames received on this port that were dropped, by reason.
	Drops map[string]uint64 `json:"drops"`
	// DropsByReason is Drops indexed by reason.Reason.
	DropsByReason [reason.Count]uint64 `json:"-"`
	// TxErrors counts frames this port could not queue for transmission.
	TxErrors uint64 `json:"tx_errors"`

	// Port I/O statistics, where the port keeps them.
	RingDrops   uint64 `json:"ring_drops"`   // frames the kernel dropped because the receive ring was full
	RxTruncated uint64 `json:"rx_truncated"` // frames too large for the receive ring
	RxCut       uint64 `json:"rx_cut"`       // quarantined sources' frames the kernel cut to their headers
	TxDropped   uint64 `json:"tx_dropped"`   // frames lost on transmit: link down, ring full, too big
	Reopens     uint64 `json:"reopens"`      // times the port reattached to a re-created interface
}

// TotalDrops sums the drops of every reason.
func (c PortCounters) TotalDrops() uint64 {
	var n uint64
	for _, d := range c.DropsByReason {
		n += d
	}
	return n
}

// Snapshot is every counter at one moment. Uplink and Rack index Ports.
type Snapshot struct {
	Time  time.Time       `json:"time"`
	Ports [2]PortCounters `json:"ports"`
}

// Counters returns the current counters, summed over the workers,
// without stopping them.
func (e *Engine) Counters() Snapshot {
	s := Snapshot{Time: time.Now()}
	for i := range e.ports {
		pc := &s.Ports[i]
		pc.Name = e.ports[i].Name()
		for w := range e.workers {
			e.workers[w].counters[i].addTo(pc)
		}
		e.hk[i].addTo(pc)
		pc.Drops = make(map[string]uint64)
		for r, n := range pc.DropsByReason {
			if n != 0 {
				pc.Drops[reason.Reason(r).String()] = n
			}
		}
		for _, q := range e.queues[i] {
			if ps, ok := q.(portStatser); ok {
				st := ps.Stats()
				pc.RingDrops += st.KernelDrops
				pc.RxTruncated += st.RxTruncated
				pc.TxDropped += st.TxDropped
				pc.Reopens += st.Reopens
				pc.RxCut += st.RxCut
			}
		}
	}
	// What one port forwarded is what the other transmitted, less what it
	// could not queue.
	s.Ports[Uplink].Forwarded = s.Ports[Rack].TxFrames
	s.Ports[Rack].Forwarded = s.Ports[Uplink].TxFrames
	return s
}

// PortHealth is what the appliance's health check looks at.
type PortHealth struct {
	Name   string `json:"name"`
	LinkUp bool   `json:"link_up"`
	// LastForwarded is when a frame received on this port was last
	// forwarded (zero if never).
	LastForwarded time.Time `json:"last_forwarded"`
	// LastProgress is when the loop serving this port last finished a
	// batch of received frames or a wait that found none (zero if it has
	// not started). With several workers it is the oldest of theirs: one
	// stuck worker is a stuck port, since the frames hashed to its queue
	// go nowhere. A busy loop finishes batches back to back and an idle
	// one finishes a wait every poll interval, so only a loop that is
	// stuck lets it grow old, where a stale LastForwarded may only mean a
	// quiet rack.
	LastProgress time.Time `json:"last_progress"`
	// ProgressAge is how long before this report LastProgress was,
	// measured on the dataplane's monotonic clock: a step of the wall
	// clock (the first NTP sync after boot) does not age it.
	ProgressAge time.Duration `json:"progress_age_ns"`
}

// Health is the engine's liveness at one moment.
type Health struct {
	Running bool          `json:"running"`
	Ports   [2]PortHealth `json:"ports"`
}

// Health reports link state and forwarding activity per port.
func (e *Engine) Health() Health {
	h := Health{Running: e.running.Load()}
	now := time.Now()
	for i := range e.ports {
		h.Ports[i] = PortHealth{Name: e.ports[i].Name(), LinkUp: e.ports[i].LinkUp()}
		var last, oldest int64
		for w := range e.workers {
			c := &e.workers[w].counters[i]
			last = max(last, c.lastForward.Load())
			p := c.progress.Load()
			if w == 0 || p < oldest {
				oldest = p // 0, not started, is the oldest of all
			}
		}
		if last != 0 {
			h.Ports[i].LastForwarded = time.Unix(0, last)
		}
		if p := oldest; p != 0 {
			at := e.epoch.Add(time.Duration(p))
			h.Ports[i].LastProgress = at
			h.Ports[i].ProgressAge = max(now.Sub(at), 0)
		}
	}
	return h
}
