package frag

import (
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// countingSink counts without keeping anything, like the dataplane's
// transmit path.
type countingSink struct{ released, dropped int }

func (s *countingSink) Release(uint8, []byte)                            { s.released++ }
func (s *countingSink) Drop(uint8, []byte, reason.Reason, *packet.Frame) { s.dropped++ }

// workload is a set of pre-decoded fragments of several datagrams and an
// order to submit them in.
type workload struct {
	frames []*packet.Frame
	order  []int
	perDG  int
}

// newWorkload cuts n datagrams into k fragments of size bytes each.
func newWorkload(tb testing.TB, pol *config.Policy, v6 bool, n, k, size int, arrange func(dg []int, rng *rand.Rand)) *workload {
	w := &workload{perDG: k}
	rng := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < n; i++ {
		d := udpDatagram(v6, uint32(0x10000+i), k*size-8)
		var idx []int
		for j := 0; j < k; j++ {
			w.frames = append(w.frames, mustDecode(tb, d.frag(j*size, size, j < k-1), pol))
			idx = append(idx, len(w.frames)-1)
		}
		arrange(idx, rng)
		w.order = append(w.order, idx...)
	}
	return w
}

// settle finishes the garbage collection the test's own setup started and
// holds the collector off while allocations are counted, so the runtime's
// own bookkeeping (GC workers, timers) is not counted as the reassembler's.
// The returned func restores the collector.
func settle() func() {
	runtime.GC()
	old := debug.SetGCPercent(-1)
	return func() { debug.SetGCPercent(old) }
}

func inOrder([]int, *rand.Rand) {}

func reversed(idx []int, _ *rand.Rand) {
	for i, j := 0, len(idx)-1; i < j; i, j = i+1, j-1 {
		idx[i], idx[j] = idx[j], idx[i]
	}
}

func shuffled(idx []int, rng *rand.Rand) {
	rng.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
}

// run submits the whole workload once and returns the new clock. Every
// fragment must be taken: the workload is clean.
func (w *workload) run(r *Reassembler, now time.Time) time.Time {
	for _, i := range w.order {
		now = now.Add(time.Microsecond)
		if rr := r.Submit(0, packet.In, w.frames[i], now, acceptAll); rr != reason.None {
			panic("clean workload fragment dropped: " + rr.String())
		}
	}
	return now
}

// unlimited is the default policy without the per-source rate limit: the
// workloads come from one source at line rate.
func unlimited() config.Policy {
	p := config.Default()
	p.FragmentRate = 0
	return p
}

// The hot path allocates nothing once pools and tables are warm: in order,
// reversed, shuffled, and on the kill, timeout and eviction paths.
func TestSteadyStateAllocatesNothing(t *testing.T) {
	pol := unlimited()
	for _, v6 := range []bool{false, true} {
		for _, c := range []struct {
			name    string
			arrange func([]int, *rand.Rand)
		}{{"in order", inOrder}, {"reversed", reversed}, {"shuffled", shuffled}} {
			sink := &countingSink{}
			r := New(&pol, sink)
			w := newWorkload(t, &pol, v6, 16, 8, 1232, c.arrange)
			now := time.Unix(1000, 0)
			for i := 0; i < 10; i++ { // warm the pools and tables
				now = w.run(r, now)
			}
			restore := settle()
			allocs := testing.AllocsPerRun(50, func() { now = w.run(r, now) })
			restore()
			if allocs != 0 {
				t.Errorf("%s %s: %v allocations per run", ipName(v6), c.name, allocs)
			}
			if sink.released == 0 || sink.dropped != 0 {
				t.Fatalf("%s %s: released %d dropped %d", ipName(v6), c.name, sink.released, sink.dropped)
			}
		}
	}

	// Kill paths: overlapping copies, timeouts, memory eviction.
	small := unlimited()
	small.MinFragmentBytesV4 = 0
	small.FragmentMemory = 32 << 10
	small.PerSourceFloor = 8 << 10
	sink := &countingSink{}
	r := New(&small, sink)
	d := udpDatagram(false, 1, 4000)
	evil := udpDatagram(false, 1, 4000)
	evil.seg[100]++
	frames := []*packet.Frame{
		mustDecode(t, d.frag(0, 1200, true), &small),
		mustDecode(t, evil.frag(0, 1200, true), &small), // overlap: kills
		mustDecode(t, d.frag(1200, 1200, true), &small),
	}
	var flood []*packet.Frame
	for i := 0; i < 40; i++ {
		d.id = uint32(100 + i)
		flood = append(flood, mustDecode(t, d.frag(0, 1200, true), &small))
	}
	now := time.Unix(1000, 0)
	cycle := func() {
		for _, f := range frames {
			r.Submit(0, packet.In, f, now, acceptAll)
		}
		for _, f := range flood {
			r.Submit(0, packet.In, f, now, acceptAll)
		}
		now = now.Add(6 * time.Second)
		r.Expire(now)
	}
	for i := 0; i < 10; i++ {
		cycle()
	}
	restore := settle()
	allocs := testing.AllocsPerRun(50, cycle)
	restore()
	if allocs != 0 {
		t.Errorf("kill paths: %v allocations per run", allocs)
	}
	if sink.dropped == 0 {
		t.Fatal("kill paths dropped nothing")
	}
}

func benchmarkOrder(b *testing.B, arrange func([]int, *rand.Rand)) {
	pol := unlimited()
	for _, v6 := range []bool{false, true} {
		b.Run(ipName(v6), func(b *testing.B) {
			sink := &countingSink{}
			r := New(&pol, sink)
			w := newWorkload(b, &pol, v6, 64, 16, 1232, arrange)
			now := w.run(r, time.Unix(1000, 0))
			b.SetBytes(1232)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				now = now.Add(time.Microsecond)
				if r.Submit(0, packet.In, w.frames[w.order[i%len(w.order)]], now, acceptAll) != reason.None {
					b.Fatal("clean workload fragment dropped")
				}
			}
			b.StopTimer()
			if sink.dropped != 0 || sink.released == 0 {
				b.Fatalf("released %d, dropped %d", sink.released, sink.dropped)
			}
		})
	}
}

// Each benchmark op is one fragment of a 16-fragment, 19.7 kB datagram.
func BenchmarkInOrder(b *testing.B)  { benchmarkOrder(b, inOrder) }
func BenchmarkReversed(b *testing.B) { benchmarkOrder(b, reversed) }
func BenchmarkRandom(b *testing.B)   { benchmarkOrder(b, shuffled) }
