package quarantine

import (
	"slices"
	"time"

	"github.com/rackwall/rackwall/dataplane/source"
)

// Entry is one quarantined source, for the UI and the API.
type Entry struct {
	Key          source.Key
	Since, Until time.Time
	Offences     int    // automatic quarantines so far
	Counts       Counts // drops by reason
	Automatic    bool
	By           string // the operator, for a manual quarantine
}

// SourceStats is what is known about one tracked source.
type SourceStats struct {
	Key        source.Key
	Counts     Counts // drops by reason since the source was first tracked
	Drops      uint64
	Violations uint64 // total violations
	Recent     int    // violations within the current window
	FirstSeen  time.Time
	LastSeen   time.Time // last drop charged
	Offences   int
	Protected  bool // never_quarantine covers it
	// Quarantine, when Quarantined.
	Quarantined  bool
	Since, Until time.Time
	Automatic    bool
	By           string
}

// Quarantined returns the sources quarantined at now, ending soonest first.
func (t *Table) Quarantined(now time.Time) []Entry {
	ns := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Entry, 0, len(t.expiry))
	for _, s := range t.expiry {
		e := &t.slots[s]
		if e.until <= ns {
			continue
		}
		out = append(out, Entry{
			Key: e.key, Since: unixNano(e.since), Until: unixNano(e.until),
			Offences: int(e.offences), Counts: e.counts, Automatic: e.automatic, By: e.by,
		})
	}
	slices.SortFunc(out, func(a, b Entry) int { return a.Until.Compare(b.Until) })
	return out
}

// stats describes slot s as of now. Callers hold t.mu.
func (t *Table) stats(s int32, now int64) SourceStats {
	e := &t.slots[s]
	st := SourceStats{
		Key: e.key, Counts: e.counts, Drops: e.drops, Violations: e.violations,
		Recent:    int(e.win.count(now / t.bucketNs)),
		FirstSeen: unixNano(e.firstSeen), LastSeen: unixNano(e.lastSeen),
		Offences: int(e.offences), Protected: e.protected,
	}
	if e.heapPos >= 0 && e.until > now {
		st.Quarantined = true
		st.Since, st.Until = unixNano(e.since), unixNano(e.until)
		st.Automatic, st.By = e.automatic, e.by
	}
	return st
}

// Top returns up to n sources with the most violations within the current
// window, ties broken by total violations, then by the most recently
// charged; sources with no violations at all are left out.
func (t *Table) Top(n int, now time.Time) []SourceStats {
	if n <= 0 {
		return nil
	}
	ns := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	type rank struct {
		s      int32
		recent uint32
		total  uint64
	}
	ranks := make([]rank, 0, len(t.slots))
	for i := range t.slots {
		e := &t.slots[i]
		if e.violations == 0 {
			continue
		}
		ranks = append(ranks, rank{int32(i), e.win.count(ns / t.bucketNs), e.violations})
	}
	slices.SortFunc(ranks, func(a, b rank) int {
		switch {
		case a.recent != b.recent:
			return cmpDesc(uint64(a.recent), uint64(b.recent))
		case a.total != b.total:
			return cmpDesc(a.total, b.total)
		case t.slots[a.s].lastSeen != t.slots[b.s].lastSeen:
			return cmpDesc(uint64(t.slots[a.s].lastSeen), uint64(t.slots[b.s].lastSeen))
		}
		return int(a.s - b.s)
	})
	out := make([]SourceStats, 0, min(n, len(ranks)))
	for _, r := range ranks[:min(n, len(ranks))] {
		out = append(out, t.stats(r.s, ns))
	}
	return out
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}

// Source returns one source's counters and the quarantine events for it
// still in the event log, oldest first; ok is false for an untracked source.
func (t *Table) Source(k source.Key, now time.Time) (SourceStats, []Event, bool) {
	ns := now.UnixNano()
	t.mu.Lock()
	defer t.mu.Unlock()
	var evs []Event
	for seq := t.events.oldest(); seq < t.events.next; seq++ {
		if ev := t.events.at(seq); ev.Key == k {
			evs = append(evs, *ev)
		}
	}
	s := t.slotOf(k)
	if s < 0 {
		return SourceStats{Key: k}, evs, false
	}
	return t.stats(s, ns), evs, true
}
