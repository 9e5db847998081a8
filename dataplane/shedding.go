package dataplane

import (
	"cmp"
	"net/netip"
	"slices"
	"time"

	"golang.org/x/net/bpf"

	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/shed"
	"github.com/rackwall/rackwall/dataplane/source"
)

// filterPort is a port whose kernel socket can run a filter before frames
// reach the ring (*afpacket.Port).
type filterPort interface {
	SetFilter(prog []bpf.RawInstruction, cut int)
}

// shedState is the kernel filter in force, owned by the housekeeping
// goroutine.
type shedState struct {
	dirty chan struct{} // poked when a quarantine starts or ends
	keys  []source.Key  // the quarantined sources the programs match, in order
	// protect is the never_quarantine list the programs were built with:
	// a policy reload that changes it rebuilds them too.
	protect []netip.Prefix
	full    bool // the last programs could not hold every source (logged once)
}

// frames is how many frames a source has had dropped, for ordering.
func frames(c *quarantine.Counts) uint64 {
	var n uint64
	for _, v := range c {
		n += v
	}
	return n
}

// watchQuarantines makes every quarantine change reach the kernel filters
// at once rather than at the next housekeeping tick: the sooner a flood is
// cut in the kernel, the less of the ring it takes from honest hosts.
func (e *Engine) watchQuarantines() {
	e.shed.dirty = make(chan struct{}, 1)
	e.quar.Subscribe(func(quarantine.Event) {
		select {
		case e.shed.dirty <- struct{}{}:
		default:
		}
	})
}

// updateShedding compiles the quarantined sources into the socket filter
// of each port's every queue (see package shed), the busiest sources first since a program
// holds a bounded number. Programs that would match what they already
// match are not reinstalled.
func (e *Engine) updateShedding(now time.Time) {
	entries := e.quar.Quarantined(now)
	slices.SortFunc(entries, func(a, b quarantine.Entry) int {
		return cmp.Compare(frames(&b.Counts), frames(&a.Counts))
	})
	keys := make([]source.Key, len(entries))
	for i, en := range entries {
		keys[i] = en.Key
	}
	protect := e.quar.NeverQuarantine()
	if slices.Equal(protect, e.shed.protect) && e.sameSources(keys) {
		return
	}
	full := false
	for i, p := range e.ports {
		prog, used, err := shed.Program(keys, uint8(i) == Rack, protect)
		if err != nil {
			e.log.Error("quarantine filter not built", "port", p.Name(), "err", err)
			continue
		}
		// Every queue's socket gets the program: the fanout spreads a
		// flooding source's frames over all of them.
		installed := false
		for _, q := range e.queues[i] {
			if fp, ok := q.(filterPort); ok {
				fp.SetFilter(prog, shed.Snap)
				installed = true
			}
		}
		if !installed {
			continue
		}
		if used < len(keys) && !e.shed.full {
			e.log.Warn("quarantine filter holds only the busiest sources; the rest are dropped in user space",
				"port", p.Name(), "in_filter", used, "quarantined", len(keys))
		}
		full = full || used < len(keys)
	}
	e.shed.keys, e.shed.protect, e.shed.full = keys, protect, full
}

// sameSources reports whether the programs in force already match keys:
// the same sources in any order while the programs hold them all, and in
// the same order once they cannot (the order then decides which are in).
// Activity reorders the list from tick to tick; that alone is no reason to
// reinstall a filter.
func (e *Engine) sameSources(keys []source.Key) bool {
	old := e.shed.keys
	if len(keys) != len(old) {
		return false
	}
	if e.shed.full {
		return slices.Equal(keys, old)
	}
	in := make(map[source.Key]bool, len(old))
	for _, k := range old {
		in[k] = true
	}
	for _, k := range keys {
		if !in[k] {
			return false
		}
	}
	return true
}
