package dataplane

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU is the CPU time the calling thread has used.
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// BenchmarkEngineWorkers drives the engine with one worker per GOMAXPROCS
// (go test -bench EngineWorkers -cpu 1,2) through in-memory queues: 4,096
// UDP flows, each frame answered the other way, spread over the queues by
// the fanout hash. Each worker runs on its own goroutine, injecting into
// its own queues and pumping them, as many frames as its share of b.N.
// ns/op is wall time per frame over all workers; frames/s is the rate.
// cpu-ns/frame is the workers' own thread CPU time per frame: on a host
// where other programs take CPU from the benchmark the wall rate says
// little about scaling, while CPU time per frame staying flat from one
// worker to two says the workers do not slow each other down.
func BenchmarkEngineWorkers(b *testing.B) {
	n := runtime.GOMAXPROCS(0)
	e, up, rack := workersEngine(b, n, nil, nil)
	const flows = 4096
	type queueFrames struct{ up, rack [][]byte }
	per := make([]queueFrames, n)
	for i := range flows {
		src := fmt.Sprintf("198.51.%d.%d", 100+i/256, i%256)
		dst := fmt.Sprintf("192.0.2.%d", i%64)
		in := udp4Frame(src, dst, uint16(1024+i), 53, make([]byte, 64))
		back := udp4Frame(dst, src, 53, uint16(1024+i), make([]byte, 64))
		q := FlowQueue(in, n)
		per[q].up = append(per[q].up, in)
		per[q].rack = append(per[q].rack, back)
	}
	const half = batchFrames / 2
	// drive runs worker w for at least frames frames.
	drive := func(w, frames int) {
		fr := &per[w]
		worker := &e.workers[w]
		upQ, rackQ := up.Queue(w), rack.Queue(w)
		next := 0
		for done := 0; done < frames; done += 2 * half {
			for range half {
				upQ.Inject(fr.up[next])
				rackQ.Inject(fr.rack[next])
				if next++; next == len(fr.up) {
					next = 0
				}
			}
			worker.pump(Uplink)
			worker.pump(Rack)
			upQ.Discard()
			rackQ.Discard()
		}
	}
	// Warm up: every flow tracked, every arena grown.
	for w := range n {
		drive(w, 2*len(per[w].up))
	}
	before := e.Counters()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var cpu atomic.Int64
	for w := range n {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			t0 := threadCPU()
			drive(w, (b.N+n-1)/n)
			cpu.Add(int64(threadCPU() - t0))
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	after := e.Counters()
	forwarded := after.Ports[Uplink].Forwarded + after.Ports[Rack].Forwarded -
		before.Ports[Uplink].Forwarded - before.Ports[Rack].Forwarded
	if drops := after.Ports[Uplink].TotalDrops() + after.Ports[Rack].TotalDrops(); drops != 0 {
		b.Fatalf("%d frames dropped: %v %v", drops, after.Ports[Uplink].Drops, after.Ports[Rack].Drops)
	}
	if forwarded < uint64(b.N) {
		b.Fatalf("forwarded %d frames of %d", forwarded, b.N)
	}
	b.ReportMetric(float64(forwarded)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(float64(cpu.Load())/float64(forwarded), "cpu-ns/frame")
	b.ReportMetric(float64(n), "workers")
}
