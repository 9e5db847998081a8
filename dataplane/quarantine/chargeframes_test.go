package quarantine

import (
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// TestQ1AggregateChargedAsItsSegments: a dropped offloaded aggregate
// charged as 4 frames counts as 4 violations, so 3 of them (12) cross a
// threshold of 10 exactly as 12 separate frames would, and the counts
// say 12.
func TestQ1AggregateChargedAsItsSegments(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	src := ip("192.0.2.9")
	keys, n := one(src)
	tb.ChargeFrames(keys, n, reason.FilterBlocked, t0, 4)
	tb.ChargeFrames(keys, n, reason.FilterBlocked, t0, 4)
	if blocked(tb, src, t0) {
		t.Fatal("quarantined at 8 violations, threshold 10")
	}
	tb.ChargeFrames(keys, n, reason.FilterBlocked, t0.Add(time.Second), 4)
	if !blocked(tb, src, t0.Add(time.Second)) {
		t.Fatal("not quarantined at 12 violations, threshold 10")
	}
	evs := tb.Events(0)
	if len(evs) != 1 || evs[0].Counts[reason.FilterBlocked] != 12 || evs[0].Recent != 12 {
		t.Fatalf("events %+v", evs)
	}
	// Nothing is charged for no frames.
	other := ip("192.0.2.10")
	k2, n2 := one(other)
	tb.ChargeFrames(k2, n2, reason.FilterBlocked, t0, 0)
	if st, _, ok := tb.Source(other, t0); ok && st.Counts[reason.FilterBlocked] != 0 {
		t.Fatalf("charged %d for 0 frames", st.Counts[reason.FilterBlocked])
	}
}

// TestWindowAddNSaturates: the window's counters stop at their maximum
// instead of wrapping to a small count.
func TestWindowAddNSaturates(t *testing.T) {
	var w window
	w.addN(5, ^uint32(0)-3)
	if got := w.addN(5, 10); got != ^uint32(0) {
		t.Fatalf("sum %d, want the maximum", got)
	}
	if got := w.add(5); got != ^uint32(0) {
		t.Fatalf("sum %d after one more, want the maximum", got)
	}
}
