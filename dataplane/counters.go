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

// portCounters are written by the packet loop and read lock-free by the
// control plane. Frame and byte counts are summed per batch and published
// once per batch; drops are rare enough to add one by one.
type portCounters struct {
	rxFrames, rxBytes atomic.Uint64
	txFrames, txBytes atomic.Uint64 // frames forwarded out of this port
	txErrors          atomic.Uint64 // frames the port refused to queue
	drops             [reason.Count]atomic.Uint64
	lastForward       atomic.Int64 // unix nanoseconds of the last frame forwarded from this port
	// progress is when the loop reading this port last finished a batch
	// or a wait that found nothing, in nanoseconds since Engine.epoch on
	// the monotonic clock (0: not yet). Stored once per batch and once per
	// idle wait.
	progress atomic.Int64
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

// Counters returns the current counters without stopping the packet loop.
func (e *Engine) Counters() Snapshot {
	s := Snapshot{Time: time.Now()}
	for i := range e.ports {
		c := &e.counters[i]
		pc := &s.Ports[i]
		pc.Name = e.ports[i].Name()
		pc.RxFrames, pc.RxBytes = c.rxFrames.Load(), c.rxBytes.Load()
		pc.TxFrames, pc.TxBytes = c.txFrames.Load(), c.txBytes.Load()
		pc.TxErrors = c.txErrors.Load()
		pc.Drops = make(map[string]uint64)
		for r := range c.drops {
			if n := c.drops[r].Load(); n != 0 {
				pc.DropsByReason[r] = n
				pc.Drops[reason.Reason(r).String()] = n
			}
		}
		if ps, ok := e.ports[i].(portStatser); ok {
			st := ps.Stats()
			pc.RingDrops, pc.RxTruncated, pc.TxDropped, pc.Reopens = st.KernelDrops, st.RxTruncated, st.TxDropped, st.Reopens
			pc.RxCut = st.RxCut
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
	// not started). A busy loop finishes batches back to back and an idle
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
		if ns := e.counters[i].lastForward.Load(); ns != 0 {
			h.Ports[i].LastForwarded = time.Unix(0, ns)
		}
		if p := e.counters[i].progress.Load(); p != 0 {
			at := e.epoch.Add(time.Duration(p))
			h.Ports[i].LastProgress = at
			h.Ports[i].ProgressAge = max(now.Sub(at), 0)
		}
	}
	return h
}
