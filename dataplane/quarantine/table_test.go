package quarantine

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func ip(s string) source.Key { return source.FromAddr(netip.MustParseAddr(s)) }

func mac(last byte) source.Key { return source.FromMAC([6]byte{2, 0, 0, 0, 0, last}) }

func one(k source.Key) ([source.MaxKeys]source.Key, int) {
	return [source.MaxKeys]source.Key{k}, 1
}

func two(a, b source.Key) ([source.MaxKeys]source.Key, int) {
	return [source.MaxKeys]source.Key{a, b}, 2
}

func testPolicy() config.Policy {
	p := config.Default()
	p.QuarantineThreshold = 10
	p.QuarantineWindow = 16 * time.Second // 1 s buckets
	p.QuarantineTime = time.Minute
	p.QuarantineMax = 5 * time.Minute
	return p
}

// charge charges k n times at now with reason r.
func charge(tb *Table, k source.Key, r reason.Reason, n int, now time.Time) {
	keys, nk := one(k)
	for i := 0; i < n; i++ {
		tb.Charge(keys, nk, r, now)
	}
}

func blocked(tb *Table, k source.Key, now time.Time) bool {
	keys, n := one(k)
	return tb.Blocked(keys, n, now)
}

func TestQ1ThresholdCrossing(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	src := ip("192.0.2.7")
	charge(tb, src, reason.FragOverlap, 10, t0)
	if blocked(tb, src, t0) {
		t.Fatal("quarantined at the threshold; Q1 says exceed")
	}
	charge(tb, src, reason.FragTooSmall, 1, t0.Add(time.Second))
	if !blocked(tb, src, t0.Add(time.Second)) {
		t.Fatal("not quarantined after exceeding the threshold")
	}
	evs := tb.Events(0)
	if len(evs) != 1 {
		t.Fatalf("events: %+v", evs)
	}
	ev := evs[0]
	if ev.Seq != 1 || ev.Kind != EventQuarantine || !ev.Automatic || ev.Key != src || ev.Offence != 1 ||
		!ev.Time.Equal(t0.Add(time.Second)) || !ev.Until.Equal(t0.Add(time.Second+time.Minute)) ||
		ev.Counts[reason.FragOverlap] != 10 || ev.Counts[reason.FragTooSmall] != 1 || ev.Recent != 11 {
		t.Errorf("event %+v", ev)
	}
	// Another source is untouched.
	if blocked(tb, ip("192.0.2.8"), t0) {
		t.Error("an innocent source is blocked")
	}
	// A frame is blocked when any of its sources is quarantined.
	keys, n := two(ip("198.51.100.1"), src)
	if !tb.Blocked(keys, n, t0.Add(2*time.Second)) {
		t.Error("frame with a quarantined second source not blocked")
	}
}

func TestQ1OnlyViolationsCount(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	src := ip("192.0.2.7")
	charge(tb, src, reason.FragMemory, 100, t0)
	charge(tb, src, reason.Quarantined, 100, t0)
	if blocked(tb, src, t0) {
		t.Fatal("drops that are not violations caused a quarantine")
	}
	st, _, ok := tb.Source(src, t0)
	if !ok || st.Drops != 200 || st.Violations != 0 || st.Counts[reason.FragMemory] != 100 || st.Counts[reason.Quarantined] != 100 {
		t.Errorf("stats %+v", st)
	}
}

func TestWindowSlides(t *testing.T) {
	p := testPolicy()
	cases := []struct {
		name   string
		second time.Duration // when the last violation comes, after 10 at t0
		want   bool
	}{
		{"within the window", 14*time.Second + 500*time.Millisecond, true},
		{"last bucket of the window", 15 * time.Second, true},
		{"past the window", 16 * time.Second, false},
		{"long after", time.Hour, false},
	}
	for _, c := range cases {
		tb := New(&p)
		src := ip("192.0.2.7")
		charge(tb, src, reason.FragOverlap, 10, t0)
		charge(tb, src, reason.FragOverlap, 1, t0.Add(c.second))
		if got := blocked(tb, src, t0.Add(c.second)); got != c.want {
			t.Errorf("%s: quarantined %v, want %v", c.name, got, c.want)
		}
	}
	// Spread out: 6 then 5 eight seconds later makes 11 within 16 s.
	tb := New(&p)
	src := ip("192.0.2.9")
	charge(tb, src, reason.FragOverlap, 6, t0)
	charge(tb, src, reason.FragOverlap, 5, t0.Add(8*time.Second))
	if !blocked(tb, src, t0.Add(8*time.Second)) {
		t.Error("11 violations within the window did not quarantine")
	}
	// A steady trickle under the rate never quarantines: 5 every 8 s.
	tb = New(&p)
	for i := 0; i < 100; i++ {
		charge(tb, src, reason.FragOverlap, 5, t0.Add(time.Duration(i)*8*time.Second+time.Duration(i%3)*time.Millisecond))
	}
	if tb.NumQuarantined() != 0 {
		t.Error("a trickle within the threshold quarantined")
	}
	if st, _, _ := tb.Source(src, t0.Add(99*8*time.Second)); st.Violations != 500 || st.Recent > 10 {
		t.Errorf("stats after trickle %+v", st)
	}
}

func TestExpiry(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	src := ip("192.0.2.7")
	charge(tb, src, reason.FragOverlap, 11, t0)
	until := t0.Add(time.Minute)
	if q := tb.Quarantined(t0); len(q) != 1 || q[0].Key != src || !q[0].Until.Equal(until) || !q[0].Automatic || q[0].Offences != 1 {
		t.Fatalf("Quarantined = %+v", q)
	}
	if !blocked(tb, src, until.Add(-time.Nanosecond)) {
		t.Error("released before its time")
	}
	tb.Expire(until.Add(-time.Nanosecond))
	if tb.NumQuarantined() != 1 {
		t.Error("Expire ended a quarantine early")
	}
	if q := tb.Quarantined(until); len(q) != 0 {
		t.Errorf("Quarantined at its end = %+v", q)
	}
	tb.Expire(until)
	if tb.NumQuarantined() != 0 || blocked(tb, src, until) {
		t.Error("still quarantined after its time")
	}
	evs := tb.Events(1)
	if len(evs) != 1 || evs[0].Kind != EventExpire || !evs[0].Time.Equal(until) || !evs[0].Automatic || evs[0].Seq != 2 {
		t.Errorf("expiry events %+v", evs)
	}
	// Blocked expires lazily too, at the quarantine's own end time.
	charge(tb, src, reason.FragOverlap, 11, until)
	second := until.Add(2 * time.Minute) // second offence lasts 2m
	if blocked(tb, src, second) {
		t.Error("Blocked ignores the end of a quarantine")
	}
	if evs := tb.Events(3); len(evs) != 1 || evs[0].Kind != EventExpire || !evs[0].Time.Equal(second) {
		t.Errorf("lazy expiry events %+v", evs)
	}
}

func TestQ1RepeatOffendersDoubleUpToTheCap(t *testing.T) {
	p := testPolicy() // 1m doubling, at most 5m
	tb := New(&p)
	src := ip("192.0.2.7")
	now := t0
	for i, want := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 5 * time.Minute, 5 * time.Minute} {
		charge(tb, src, reason.FragOverlap, 11, now)
		q := tb.Quarantined(now)
		if len(q) != 1 || q[0].Offences != i+1 || q[0].Until.Sub(now) != want {
			t.Fatalf("offence %d: %+v, want %v", i+1, q, want)
		}
		now = q[0].Until
		tb.Expire(now)
		now = now.Add(time.Second)
	}
	// Clean for longer than quarantine_max: a first offender again.
	now = now.Add(6 * time.Minute)
	charge(tb, src, reason.FragOverlap, 11, now)
	if q := tb.Quarantined(now); len(q) != 1 || q[0].Offences != 1 || q[0].Until.Sub(now) != time.Minute {
		t.Errorf("after a clean period: %+v", q)
	}
}

func TestQ2NeverQuarantine(t *testing.T) {
	p := testPolicy()
	p.NeverQuarantine = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8:0:1::53/128")}
	tb := New(&p)
	gw := ip("192.0.2.1")
	dns := ip("2001:db8:0:1::99") // the same /64 as the protected address
	charge(tb, gw, reason.FragOverlap, 1000, t0)
	charge(tb, dns, reason.FragOverlap, 1000, t0)
	if blocked(tb, gw, t0) || blocked(tb, dns, t0) || tb.NumQuarantined() != 0 {
		t.Fatal("a never_quarantine source was quarantined")
	}
	st, _, _ := tb.Source(gw, t0)
	if st.Violations != 1000 || !st.Protected {
		t.Errorf("protected source not counted: %+v", st)
	}
	if err := tb.Quarantine(gw, time.Minute, "alice", t0); err == nil {
		t.Error("manual quarantine of a never_quarantine source succeeded")
	}
	// Outside the prefix the rule applies as usual.
	other := ip("192.0.3.1")
	charge(tb, other, reason.FragOverlap, 11, t0)
	if !blocked(tb, other, t0) {
		t.Error("an unprotected source was not quarantined")
	}
	// Protecting a quarantined source releases it.
	p.NeverQuarantine = append(p.NeverQuarantine, netip.MustParsePrefix("192.0.3.0/24"))
	tb.SetPolicy(&p)
	if blocked(tb, other, t0) {
		t.Error("a newly protected source stays quarantined")
	}
	evs := tb.Events(0)
	if last := evs[len(evs)-1]; last.Kind != EventRelease || last.By != "never_quarantine" || last.Key != other {
		t.Errorf("release by policy event %+v", last)
	}
}

func TestQ3ManualQuarantineAndRelease(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	src := mac(7)
	if err := tb.Quarantine(src, 3*time.Minute, "alice", t0); err != nil {
		t.Fatal(err)
	}
	if !blocked(tb, src, t0.Add(time.Minute)) {
		t.Fatal("manual quarantine does not block")
	}
	q := tb.Quarantined(t0)
	if len(q) != 1 || q[0].Automatic || q[0].By != "alice" || q[0].Offences != 0 || !q[0].Until.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("Quarantined = %+v", q)
	}
	// Changing the end.
	if err := tb.Quarantine(src, time.Minute, "carol", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if q := tb.Quarantined(t0); q[0].By != "carol" || !q[0].Until.Equal(t0.Add(61*time.Second)) {
		t.Errorf("after extension %+v", q)
	}
	if err := tb.Release(src, "bob", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	if blocked(tb, src, t0.Add(2*time.Second)) {
		t.Error("released source still blocked")
	}
	if err := tb.Release(src, "bob", t0.Add(3*time.Second)); !errors.Is(err, ErrNotQuarantined) {
		t.Errorf("second release: %v", err)
	}
	if err := tb.Release(ip("203.0.113.1"), "bob", t0); !errors.Is(err, ErrNotQuarantined) {
		t.Errorf("release of an unknown source: %v", err)
	}
	for _, d := range []time.Duration{0, -time.Second, 6 * time.Minute} {
		if err := tb.Quarantine(src, d, "alice", t0); err == nil {
			t.Errorf("quarantine for %v accepted (quarantine_max 5m)", d)
		}
	}
	_, evs, ok := tb.Source(src, t0.Add(3*time.Second))
	if !ok || len(evs) != 3 || evs[0].By != "alice" || evs[1].By != "carol" || evs[2].Kind != EventRelease || evs[2].By != "bob" || evs[2].Automatic {
		t.Errorf("history %+v", evs)
	}
}

func TestQ4EvictsLeastRecentlyCharged(t *testing.T) {
	p := testPolicy()
	p.MaxSources = 64
	tb := New(&p)
	key := func(i int) source.Key { return ip(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}).String()) }
	for i := 0; i < 64; i++ {
		charge(tb, key(i), reason.FilterBlocked, 1, t0.Add(time.Duration(i)*time.Millisecond))
	}
	// Key 0 is the oldest but is quarantined; key 1 is recharged.
	if err := tb.Quarantine(key(0), time.Minute, "alice", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	charge(tb, key(1), reason.FilterBlocked, 1, t0.Add(time.Second))
	charge(tb, key(64), reason.FilterBlocked, 1, t0.Add(2*time.Second))
	if tb.Len() != 64 {
		t.Fatalf("Len = %d, want 64", tb.Len())
	}
	for i, want := range map[int]bool{0: true, 1: true, 2: false, 3: true, 64: true} {
		if _, _, ok := tb.Source(key(i), t0); ok != want {
			t.Errorf("source %d tracked = %v, want %v", i, ok, want)
		}
	}
	if !blocked(tb, key(0), t0.Add(3*time.Second)) {
		t.Error("quarantined source lost to eviction")
	}
}

func TestQ4QuarantineCapEvictsSoonestEnding(t *testing.T) {
	p := testPolicy()
	p.MaxSources = 64 // cap 32
	tb := New(&p)
	for i := 0; i < 32; i++ {
		d := time.Duration(100-i) * time.Second
		if err := tb.Quarantine(mac(byte(i)), d, "alice", t0); err != nil {
			t.Fatal(err)
		}
	}
	// mac(31) ends first (69 s). A 33rd quarantine pushes it out.
	if err := tb.Quarantine(mac(200), time.Minute+30*time.Second, "alice", t0); err != nil {
		t.Fatal(err)
	}
	if tb.NumQuarantined() != 32 {
		t.Fatalf("quarantined %d, want the cap 32", tb.NumQuarantined())
	}
	if blocked(tb, mac(31), t0) || !blocked(tb, mac(30), t0) || !blocked(tb, mac(200), t0) {
		t.Error("the wrong quarantine made room")
	}
	evs := tb.Events(32)
	if len(evs) != 2 || evs[0].Kind != EventEvicted || evs[0].Key != mac(31) || evs[1].Key != mac(200) {
		t.Errorf("events %+v", evs)
	}
}

func TestTop(t *testing.T) {
	p := testPolicy()
	p.QuarantineThreshold = 1000
	tb := New(&p)
	charge(tb, ip("192.0.2.1"), reason.FragOverlap, 50, t0)                     // old: out of the window later
	charge(tb, ip("192.0.2.2"), reason.FragTooSmall, 5, t0.Add(20*time.Second)) // recent
	charge(tb, ip("192.0.2.3"), reason.FragTooSmall, 7, t0.Add(20*time.Second)) // most recent violations
	charge(tb, ip("192.0.2.4"), reason.FragMemory, 90, t0.Add(20*time.Second))  // no violations
	top := tb.Top(10, t0.Add(20*time.Second))
	if len(top) != 3 {
		t.Fatalf("Top = %+v", top)
	}
	want := []struct {
		key    source.Key
		recent int
		total  uint64
	}{{ip("192.0.2.3"), 7, 7}, {ip("192.0.2.2"), 5, 5}, {ip("192.0.2.1"), 0, 50}}
	for i, w := range want {
		if top[i].Key != w.key || top[i].Recent != w.recent || top[i].Violations != w.total {
			t.Errorf("Top[%d] = %v recent %d total %d, want %v %d %d", i, top[i].Key, top[i].Recent, top[i].Violations, w.key, w.recent, w.total)
		}
	}
	if top[0].Counts.Worst() != reason.FragTooSmall {
		t.Errorf("worst reason %v", top[0].Counts.Worst())
	}
	if got := tb.Top(1, t0.Add(20*time.Second)); len(got) != 1 || got[0].Key != ip("192.0.2.3") {
		t.Errorf("Top(1) = %+v", got)
	}
}

func TestSetPolicyShrinksTheTable(t *testing.T) {
	p := testPolicy()
	p.MaxSources = 1024
	tb := New(&p)
	for i := 0; i < 1024; i++ {
		charge(tb, ip(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}).String()), reason.FilterBlocked, 1, t0.Add(time.Duration(i)*time.Millisecond))
	}
	if err := tb.Quarantine(ip("10.1.0.0"), time.Minute, "alice", t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	p.MaxSources = 64
	tb.SetPolicy(&p)
	if tb.Len() != 64 {
		t.Fatalf("Len = %d after shrinking to 64", tb.Len())
	}
	if !blocked(tb, ip("10.1.0.0"), t0.Add(3*time.Second)) {
		t.Error("quarantine lost when shrinking")
	}
	if _, _, ok := tb.Source(ip("10.1.3.255"), t0); !ok {
		t.Error("most recent source forgotten when shrinking")
	}
	if _, _, ok := tb.Source(ip("10.1.0.5"), t0); ok {
		t.Error("old source kept when shrinking")
	}
	tb.checkInvariants(t)
}

func TestSubscribe(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	var got []Event
	var cancel func()
	cancel = tb.Subscribe(func(ev Event) {
		got = append(got, ev)
		// Hooks may call back into the table.
		if _, _, ok := tb.Source(ev.Key, ev.Time); !ok {
			t.Error("hook cannot see the source")
		}
	})
	src := ip("192.0.2.7")
	charge(tb, src, reason.FragOverlap, 11, t0)
	if err := tb.Release(src, "bob", t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Kind != EventQuarantine || got[1].Kind != EventRelease || got[0].Seq != 1 || got[1].Seq != 2 {
		t.Fatalf("hook saw %+v", got)
	}
	cancel()
	charge(tb, src, reason.FragOverlap, 11, t0.Add(2*time.Second))
	if len(got) != 2 {
		t.Error("hook called after cancel")
	}
	if evs := tb.Events(2); len(evs) != 1 || evs[0].Seq != 3 {
		t.Errorf("Events(2) = %+v", evs)
	}
}

func TestEventLogKeepsTheNewest(t *testing.T) {
	p := testPolicy()
	p.QuarantineMax = time.Hour
	tb := New(&p)
	src := mac(1)
	for i := 0; i < eventLogSize+10; i++ {
		if err := tb.Quarantine(src, time.Minute, "alice", t0); err != nil {
			t.Fatal(err)
		}
	}
	evs := tb.Events(0)
	if len(evs) != eventLogSize || evs[0].Seq != 11 || evs[len(evs)-1].Seq != eventLogSize+10 {
		t.Errorf("log holds %d events, seq %d..%d", len(evs), evs[0].Seq, evs[len(evs)-1].Seq)
	}
}

// A quarantined MAC that forges a new IP source in every frame is charged
// for each frame, but the forged addresses are not tracked: they would
// evict every honest source's history.
func TestQ1QuarantinedFramesTrackNoNewSources(t *testing.T) {
	p := testPolicy()
	tb := New(&p)
	flooder := mac(0x66)
	if err := tb.Quarantine(flooder, time.Minute, "test", t0); err != nil {
		t.Fatal(err)
	}
	honest := ip("192.0.2.7")
	charge(tb, honest, reason.FragOverlap, 1, t0)
	before := tb.Len()
	for i := 0; i < 10000; i++ {
		forged := source.FromAddr(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
		keys, n := two(forged, flooder)
		if !tb.Blocked(keys, n, t0) {
			t.Fatal("frame of a quarantined MAC not blocked")
		}
		tb.Charge(keys, n, reason.Quarantined, t0)
	}
	if tb.Len() != before {
		t.Fatalf("table grew from %d to %d sources on forged addresses", before, tb.Len())
	}
	st, _, ok := tb.Source(flooder, t0)
	if !ok || st.Counts[reason.Quarantined] != 10000 {
		t.Fatalf("flooder charged %d quarantined drops, want 10000", st.Counts[reason.Quarantined])
	}
	if _, _, ok := tb.Source(honest, t0); !ok {
		t.Fatal("the honest source's history is gone")
	}
}

// A protected host's frames pass even when its MAC is quarantined (by its
// own unprotected traffic or by hand); its other traffic stays blocked.
func TestQ2NeverQuarantineBeatsAQuarantinedMAC(t *testing.T) {
	p := testPolicy()
	p.NeverQuarantine = []netip.Prefix{netip.MustParsePrefix("192.0.2.53/32")}
	tb := New(&p)
	hostMAC := mac(0x53)
	if err := tb.Quarantine(hostMAC, time.Minute, "alice", t0); err != nil {
		t.Fatal(err)
	}
	keys, n := two(ip("192.0.2.53"), hostMAC)
	if tb.Blocked(keys, n, t0) {
		t.Error("the protected address was blocked through its quarantined MAC")
	}
	keys, n = two(ip("192.0.2.54"), hostMAC)
	if !tb.Blocked(keys, n, t0) {
		t.Error("unprotected traffic of the quarantined MAC passed")
	}
	if got := tb.NeverQuarantine(); len(got) != 1 || got[0] != p.NeverQuarantine[0] {
		t.Errorf("NeverQuarantine() = %v", got)
	}
}
