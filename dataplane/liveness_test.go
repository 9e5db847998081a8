package dataplane

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
)

// floodPort always has a full batch ready, like a port under a flood the
// loop cannot keep up with: Wait never has to wait and Receive always
// hands over as many frames as asked for.
type floodPort struct {
	*MemPort
	frame   []byte
	waits   atomic.Int64
	offered atomic.Int64
	rx      afpacket.Frame
}

func (p *floodPort) Wait(time.Duration) bool { p.waits.Add(1); return true }

func (p *floodPort) Receive(fn func(*afpacket.Frame), maxFrames int) int {
	for range maxFrames {
		p.rx = afpacket.Frame{Data: p.frame, Time: time.Now()}
		fn(&p.rx)
	}
	p.offered.Add(int64(maxFrames))
	return maxFrames
}

// stuckPort blocks inside Receive until released, like a loop wedged in
// the middle of a batch.
type stuckPort struct {
	*MemPort
	entered chan struct{}
	release chan struct{}
}

func (p *stuckPort) Wait(time.Duration) bool { return true }

func (p *stuckPort) Receive(func(*afpacket.Frame), int) int {
	select {
	case p.entered <- struct{}{}:
	default:
	}
	<-p.release
	return 0
}

// runEngine runs e until the test ends.
func runEngine(t *testing.T, e *Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("engine did not stop")
		}
	})
}

// progressLimit is how old a healthy loop's progress may be here: well
// under the appliance's 2 s probe limit, far over the 100 ms an idle loop
// takes to come round.
const progressLimit = time.Second

// A loop that never gets back to waiting because every batch is full is
// busy, not stuck: its progress stays fresh for longer than the
// appliance's probe limit, and so does the idle loop's beside it.
func TestFloodedLoopReportsProgress(t *testing.T) {
	t.Parallel()
	flood := &floodPort{MemPort: NewMemPort("uplink0")}
	// Dropped (bad IPv4 checksum), so nothing piles up on the other port.
	flood.frame = udp4Frame("198.51.100.7", "192.0.2.10", 1, 2, nil)
	flood.frame[14+10] ^= 0xff
	rack := NewMemPort("rack0")
	e, err := New(Config{UplinkPort: flood, RackPort: rack, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runEngine(t, e)

	start := time.Now()
	var lastRx uint64
	samples := 0
	for time.Since(start) < 2500*time.Millisecond {
		time.Sleep(100 * time.Millisecond)
		h := e.Health()
		for i, p := range h.Ports {
			if p.LastProgress.IsZero() || p.ProgressAge > progressLimit {
				t.Fatalf("after %v, port %d (%s) shows no progress for %v (flood offered %d frames)",
					time.Since(start).Round(time.Millisecond), i, p.Name, p.ProgressAge, flood.offered.Load())
			}
		}
		// Progress is work done: the flooded loop handled more frames.
		rx := e.Counters().Ports[Uplink].RxFrames
		if rx <= lastRx {
			t.Fatalf("flooded port handled no frames in 100 ms (%d then %d)", lastRx, rx)
		}
		lastRx = rx
		samples++
	}
	// The loop never went back to Wait: the drain ran the whole time, which
	// is what the progress must survive.
	if w := flood.waits.Load(); w != 1 {
		t.Fatalf("flooded loop waited %d times; the test needs it to drain without pause", w)
	}
	t.Logf("%d samples over 2.5 s, %d flood frames handled", samples, lastRx)
}

// A loop blocked inside a batch makes no progress, and its age shows it.
func TestStuckLoopReportsNoProgress(t *testing.T) {
	t.Parallel()
	stuck := &stuckPort{MemPort: NewMemPort("uplink0"), entered: make(chan struct{}, 1), release: make(chan struct{})}
	rack := NewMemPort("rack0")
	e, err := New(Config{UplinkPort: stuck, RackPort: rack, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runEngine(t, e)
	t.Cleanup(func() { close(stuck.release) }) // runs before the engine is stopped
	select {
	case <-stuck.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the loop never entered Receive")
	}
	before := e.Health().Ports[Uplink]
	if before.LastProgress.IsZero() {
		t.Fatal("a started loop shows no progress at all")
	}
	const stuckFor = 2100 * time.Millisecond // beyond the appliance's 2 s probe limit
	time.Sleep(stuckFor)
	after := e.Health().Ports[Uplink]
	if !after.LastProgress.Equal(before.LastProgress) {
		t.Fatalf("a loop blocked in Receive reported progress: %v then %v", before.LastProgress, after.LastProgress)
	}
	if after.ProgressAge < stuckFor {
		t.Fatalf("blocked for %v, progress age only %v", stuckFor, after.ProgressAge)
	}
}
