package quarantine

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// checkInvariants verifies the table's structures agree with each other.
func (tb *Table) checkInvariants(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if len(tb.slots) > tb.maxSources {
		t.Fatalf("%d slots, bound %d", len(tb.slots), tb.maxSources)
	}
	inList := 0
	for s, prev := tb.head, int32(-1); s >= 0; prev, s = s, tb.slots[s].next {
		if tb.slots[s].prev != prev || tb.slots[s].heapPos >= 0 {
			t.Fatalf("recency list broken at slot %d", s)
		}
		inList++
	}
	if inList+len(tb.expiry) != len(tb.slots) {
		t.Fatalf("%d listed + %d quarantined != %d slots", inList, len(tb.expiry), len(tb.slots))
	}
	if int(tb.quarantined.Load()) != len(tb.expiry) || len(tb.expiry) > tb.maxQuarantin {
		t.Fatalf("quarantined count %d, heap %d, cap %d", tb.quarantined.Load(), len(tb.expiry), tb.maxQuarantin)
	}
	for i, s := range tb.expiry {
		if int(tb.slots[s].heapPos) != i || i > 0 && tb.slots[tb.expiry[(i-1)/2]].until > tb.slots[s].until {
			t.Fatalf("expiry heap broken at %d", i)
		}
	}
	used := 0
	for _, c := range tb.idx.cells {
		if c != 0 {
			used++
		}
	}
	if used != len(tb.slots) {
		t.Fatalf("index holds %d cells for %d slots", used, len(tb.slots))
	}
	for i := range tb.slots {
		if got := tb.idx.find(tb.slots, tb.slots[i].key, tb.slots[i].hash); got != int32(i) {
			t.Fatalf("index finds slot %d for %v, want %d", got, tb.slots[i].key, i)
		}
	}
}

func randomKey(r *rand.Rand) source.Key {
	switch r.IntN(3) {
	case 0:
		return source.FromAddr(netip.AddrFrom4([4]byte{byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}))
	case 1:
		var a [16]byte
		for i := range a {
			a[i] = byte(r.Uint32())
		}
		return source.FromAddr(netip.AddrFrom16(a))
	}
	var m [6]byte
	for i := range m {
		m[i] = byte(r.Uint32())
	}
	return source.FromMAC(m)
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestQ4FloodOfRandomSourcesStaysBounded is Q4: a million invented sources,
// many of them violating, cannot grow the table or its memory.
func TestQ4FloodOfRandomSourcesStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("short mode: the flood charges a million sources")
	}
	p := testPolicy()
	p.MaxSources = 4096
	p.QuarantineThreshold = 2
	tb := New(&p)
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	flood := func(n int) {
		for i := 0; i < n; i++ {
			k := randomKey(r)
			keys, nk := two(k, mac(byte(i)))
			reasonFor := reason.FragOverlap
			if i%4 == 0 {
				reasonFor = reason.FragMemory
			}
			// Each invented source sends a few violations: enough for many
			// to be quarantined, so the quarantine cap is exercised too.
			for j := 0; j < 1+i%4; j++ {
				tb.Charge(keys, nk, reasonFor, now)
			}
			if tb.Blocked(keys, nk, now) && i%1000 == 0 {
				_ = tb.Release(k, "test", now)
			}
			now = now.Add(time.Microsecond)
		}
	}
	total := 1_000_000
	if raceEnabled {
		total = 200_000
	}
	flood(100_000)
	tb.checkInvariants(t)
	base := heapInUse()
	flood(total - 100_000)
	grown := int64(heapInUse()) - int64(base)
	tb.checkInvariants(t)
	if tb.Len() != 4096 {
		t.Errorf("Len = %d, want the bound 4096", tb.Len())
	}
	if q := tb.NumQuarantined(); q == 0 || q > 2048 {
		t.Errorf("quarantined %d, want some and at most the cap 2048", q)
	}
	if grown > 256<<10 {
		t.Errorf("heap grew %d bytes over %d more sources", grown, total-100_000)
	}
	t.Logf("after %d sources: %d tracked, %d quarantined, heap growth %d bytes, %d events", total, tb.Len(), tb.NumQuarantined(), grown, len(tb.Events(0)))
}

// TestIndexAgainstMap cross-checks the open-addressing index with a map
// under random inserts and removes.
func TestIndexAgainstMap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const max = 300
	slots := make([]slot, max)
	x := newIndex(max)
	ref := map[source.Key]int32{}
	free := make([]int32, 0, max)
	for i := int32(max) - 1; i >= 0; i-- {
		free = append(free, i)
	}
	live := []source.Key{}
	for step := 0; step < 200_000; step++ {
		if len(free) > 0 && (len(live) == 0 || r.IntN(2) == 0) {
			k := source.FromMAC([6]byte{0, 0, 0, 0, byte(r.IntN(4)), byte(r.Uint32())}) // small space: collisions and re-adds
			if _, ok := ref[k]; ok {
				continue
			}
			s := free[len(free)-1]
			free = free[:len(free)-1]
			slots[s] = slot{key: k, hash: x.hash(k)}
			x.insert(slots[s].hash, s)
			ref[k] = s
			live = append(live, k)
		} else {
			i := r.IntN(len(live))
			k := live[i]
			live[i] = live[len(live)-1]
			live = live[:len(live)-1]
			s := ref[k]
			x.remove(slots, slots[s].hash, s)
			delete(ref, k)
			free = append(free, s)
		}
		if step%97 == 0 {
			for k, s := range ref {
				if got := x.find(slots, k, x.hash(k)); got != s {
					t.Fatalf("step %d: find(%v) = %d, want %d", step, k, got, s)
				}
			}
			probe := source.FromMAC([6]byte{9, 9, 9, 9, 9, byte(step)})
			if x.find(slots, probe, x.hash(probe)) != -1 {
				t.Fatalf("found a key never inserted")
			}
		}
	}
}

func steadyTable(tb testing.TB, quarantineSome bool) (*Table, [source.MaxKeys]source.Key, int) {
	p := testPolicy()
	p.MaxSources = 1024
	p.QuarantineThreshold = 1 << 30
	tab := New(&p)
	for i := 0; i < 2048; i++ { // fill past the bound: the table is at its working size
		keys, n := two(source.FromAddr(netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})), mac(byte(i)))
		tab.Charge(keys, n, reason.FragOverlap, t0)
	}
	if quarantineSome {
		if err := tab.Quarantine(ip("10.9.9.9"), time.Minute, "test", t0); err != nil {
			tb.Fatal(err)
		}
	}
	keys, n := two(ip("10.2.7.255"), mac(255))
	return tab, keys, n
}

func TestHotPathAllocatesNothing(t *testing.T) {
	for _, quarantineSome := range []bool{false, true} {
		tab, keys, n := steadyTable(t, quarantineSome)
		now := t0.Add(time.Second)
		if a := testing.AllocsPerRun(10000, func() { tab.Blocked(keys, n, now) }); a != 0 {
			t.Errorf("Blocked (quarantined: %v) allocates %v per call", quarantineSome, a)
		}
		if a := testing.AllocsPerRun(10000, func() { tab.Charge(keys, n, reason.FragTooSmall, now) }); a != 0 {
			t.Errorf("Charge of a known source allocates %v per call", a)
		}
		// Churn: every charge is a new source evicting the oldest.
		r := rand.New(rand.NewPCG(5, 6))
		churn := func() {
			k := randomKey(r)
			tab.Charge([source.MaxKeys]source.Key{k}, 1, reason.FragOverlap, now)
		}
		if a := testing.AllocsPerRun(10000, churn); a != 0 {
			t.Errorf("Charge of new sources at a full table allocates %v per call", a)
		}
		// AllocsPerRun rounds down; count every allocation over long runs.
		// The counter is process-wide, so a stray runtime allocation can
		// land in one round; one the hot path made would show in every round.
		fewest := ^uint64(0)
		for round := 0; round < 3 && fewest != 0; round++ {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			for i := 0; i < 100_000; i++ {
				churn()
				tab.Blocked(keys, n, now)
			}
			runtime.ReadMemStats(&after)
			fewest = min(fewest, after.Mallocs-before.Mallocs)
		}
		if fewest != 0 {
			t.Errorf("100,000 churning charges made %d allocations", fewest)
		}
	}
}

func TestAutomaticQuarantineAllocatesNothing(t *testing.T) {
	p := testPolicy()
	p.MaxSources = 256
	p.QuarantineThreshold = 1
	tab := New(&p)
	r := rand.New(rand.NewPCG(7, 8))
	now := t0
	step := func() {
		keys, n := one(randomKey(r))
		tab.Charge(keys, n, reason.FragOverlap, now)
		tab.Charge(keys, n, reason.FragOverlap, now) // crosses the threshold
		now = now.Add(time.Millisecond)
	}
	for i := 0; i < 1000; i++ {
		step()
	}
	if a := testing.AllocsPerRun(5000, step); a != 0 {
		t.Errorf("quarantining allocates %v per call", a)
	}
}

func TestConcurrentUse(t *testing.T) {
	p := testPolicy()
	p.MaxSources = 128
	p.QuarantineThreshold = 3
	tb := New(&p)
	tb.Subscribe(func(Event) {})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 9))
			for i := 0; i < 20000; i++ {
				k := source.FromMAC([6]byte{0, 0, 0, 0, 0, byte(r.IntN(200))})
				keys, n := one(k)
				now := t0.Add(time.Duration(i) * time.Millisecond)
				if !tb.Blocked(keys, n, now) {
					tb.Charge(keys, n, reason.FragOverlap, now)
				} else {
					tb.Charge(keys, n, reason.Quarantined, now)
				}
			}
		}(uint64(w))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			now := t0.Add(time.Duration(i) * time.Millisecond)
			tb.Quarantined(now)
			tb.Top(5, now)
			tb.Events(0)
			_ = tb.Quarantine(mac(byte(i)), time.Second, "ui", now)
			_ = tb.Release(mac(byte(i+1)), "ui", now)
			tb.Expire(now)
		}
	}()
	time.Sleep(50 * time.Millisecond)
	close(stop)
	wg.Wait()
	tb.checkInvariants(t)
}

func BenchmarkBlockedNothingQuarantined(b *testing.B) {
	tab, keys, n := steadyTable(b, false)
	b.ReportAllocs()
	for b.Loop() {
		tab.Blocked(keys, n, t0)
	}
}

func BenchmarkBlockedSomeQuarantined(b *testing.B) {
	tab, keys, n := steadyTable(b, true)
	b.ReportAllocs()
	for b.Loop() {
		tab.Blocked(keys, n, t0)
	}
}

func BenchmarkChargeKnownSource(b *testing.B) {
	tab, keys, n := steadyTable(b, false)
	b.ReportAllocs()
	for b.Loop() {
		tab.Charge(keys, n, reason.FragTooSmall, t0)
	}
}

func BenchmarkChargeNewSources(b *testing.B) {
	tab, _, _ := steadyTable(b, false)
	r := rand.New(rand.NewPCG(1, 1))
	keys := make([]source.Key, 4096)
	for i := range keys {
		keys[i] = randomKey(r)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		tab.Charge([source.MaxKeys]source.Key{keys[i&4095]}, 1, reason.FragOverlap, t0)
		i++
	}
}
