package dataplane

import (
	"testing"
)

// The hot path allocates nothing per forwarded frame: decode, quarantine
// check, transport check, filter, transmit and the counters.
func TestForwardAllocatesNothing(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	in := udp4Frame("198.51.100.7", "192.0.2.10", 1000, 53, make([]byte, 64))
	back := udp4Frame("192.0.2.10", "198.51.100.7", 53, 1000, make([]byte, 64))
	run := func() {
		up.Inject(in)
		e.workers[0].pump(Uplink)
		rack.Inject(back)
		e.workers[0].pump(Rack)
		rack.Discard()
		up.Discard()
	}
	run() // warm up arenas and the connection entry
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("%v allocations per forwarded frame pair, want 0", n)
	}
	if f := e.Counters().Ports[Uplink].Forwarded; f < 1000 {
		t.Fatalf("only %d frames forwarded", f)
	}
}

// Dropped frames allocate nothing either: counting, charging and capture.
func TestDropAllocatesNothing(t *testing.T) {
	e, up, _ := testEngine(t, nil, nil)
	bad := udp4Frame("198.51.100.7", "192.0.2.10", 1000, 53, make([]byte, 64))
	bad[14+10] ^= 0xff
	run := func() {
		up.Inject(bad)
		e.workers[0].pump(Uplink)
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("%v allocations per dropped frame, want 0", n)
	}
}

// Frames to reserved link-local addresses cost nothing either: a control
// frame passed under L1 and an IP packet to such an address judged by the
// whole pipeline.
func TestLinkLocalAllocatesNothing(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	stp := stpFrame(macRack)
	ipToLL := toLinkLocal(udp4Frame("198.51.100.7", "192.0.2.10", 1000, 53, make([]byte, 64)))
	run := func() {
		rack.Inject(stp)
		e.workers[0].pump(Rack)
		up.Inject(ipToLL)
		e.workers[0].pump(Uplink)
		up.Discard()
		rack.Discard()
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("%v allocations per link-local frame pair, want 0", n)
	}
	if s := e.Counters(); s.Ports[Rack].Forwarded < 1000 || s.Ports[Uplink].Forwarded < 1000 {
		t.Fatalf("forwarded %d STP and %d IP frames, want 1000 each", s.Ports[Rack].Forwarded, s.Ports[Uplink].Forwarded)
	}
}

// BenchmarkForward pushes batches of 64 frames of a UDP flow through the
// pipeline in both directions; ns/op and allocs/op are per frame.
func BenchmarkForward(b *testing.B) {
	e, up, rack := testEngine(b, nil, nil)
	in := udp4Frame("198.51.100.7", "192.0.2.10", 1000, 53, make([]byte, 64))
	back := udp4Frame("192.0.2.10", "198.51.100.7", 53, 1000, make([]byte, 64))
	const batch = 64
	inject := func() {
		for range batch / 2 {
			up.Inject(in)
			rack.Inject(back)
		}
	}
	forward := func() {
		e.workers[0].pump(Uplink)
		e.workers[0].pump(Rack)
		up.Discard()
		rack.Discard()
	}
	inject()
	forward()
	b.ReportAllocs()
	b.ResetTimer()
	// Injecting is the test's work, not the pipeline's: keep it off the clock.
	for i := 0; i < b.N; i += batch {
		b.StopTimer()
		inject()
		b.StartTimer()
		forward()
	}
}
