package supervise

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeBypass struct {
	mu      sync.Mutex
	on      bool
	enables int
}

func (b *fakeBypass) Enable() error  { b.mu.Lock(); b.on = true; b.enables++; b.mu.Unlock(); return nil }
func (b *fakeBypass) Disable() error { b.mu.Lock(); b.on = false; b.mu.Unlock(); return nil }
func (b *fakeBypass) active() bool   { b.mu.Lock(); defer b.mu.Unlock(); return b.on }

type recorder struct {
	mu     sync.Mutex
	states []State
}

func (r *recorder) add(s State, _ string) { r.mu.Lock(); r.states = append(r.states, s); r.mu.Unlock() }
func (r *recorder) has(s State) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.states {
		if x == s {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// start runs a supervisor until the test ends.
func start(t *testing.T, cfg Config) *Supervisor {
	s := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go s.Run(ctx)
	return s
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A dataplane that exits is replaced; meanwhile the ports are bridged
// (fail-open), and they are handed back once the new one is healthy.
func TestFailOpenAndRecover(t *testing.T) {
	var starts atomic.Int32
	bp := &fakeBypass{}
	rec := &recorder{}
	s := New(Config{
		Command: func() *exec.Cmd {
			// The first dataplane dies after a moment; later ones keep running.
			if starts.Add(1) == 1 {
				return exec.Command("sh", "-c", "sleep 0.3; exit 3")
			}
			return exec.Command("sleep", "60")
		},
		Probe:         func(context.Context) error { return nil },
		Bypass:        bp,
		FailOpen:      true,
		ProbeInterval: 20 * time.Millisecond,
		MinBackoff:    50 * time.Millisecond,
		Log:           quiet(),
		OnState:       rec.add,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()

	waitFor(t, "bypass after the first dataplane exits", func() bool { return rec.has(Bypass) })
	if st := s.Status(); st.Reason == "" {
		t.Errorf("bypass without a reason: %+v", st)
	}
	waitFor(t, "a second dataplane forwarding", func() bool {
		return starts.Load() >= 2 && s.Status().State == Forwarding
	})
	if bp.active() {
		t.Error("bypass still on while the dataplane forwards")
	}
	cancel()
	<-done
	if !bp.active() {
		t.Error("fail-open appliance stopped without leaving the bypass on")
	}
}

// A dataplane that keeps running but fails its probes is killed and
// replaced; fail-closed never bridges the ports.
func TestFailClosedOnProbeFailures(t *testing.T) {
	var healthy atomic.Bool
	healthy.Store(true)
	var starts atomic.Int32
	bp := &fakeBypass{}
	s := start(t, Config{
		Command: func() *exec.Cmd { starts.Add(1); return exec.Command("sleep", "60") },
		Probe: func(context.Context) error {
			if healthy.Load() {
				return nil
			}
			return errors.New("loop stalled")
		},
		Bypass:        bp,
		FailOpen:      false,
		ProbeInterval: 20 * time.Millisecond,
		ProbeFailures: 3,
		StartTimeout:  200 * time.Millisecond,
		MinBackoff:    20 * time.Millisecond,
		Log:           quiet(),
	})
	waitFor(t, "forwarding", func() bool { return s.Status().State == Forwarding })
	healthy.Store(false)
	waitFor(t, "isolated after failed probes", func() bool { return s.Status().State == Isolated })
	healthy.Store(true)
	waitFor(t, "forwarding again", func() bool { return s.Status().State == Forwarding && starts.Load() >= 2 })
	if bp.enables != 0 {
		t.Errorf("fail-closed enabled the bypass %d times", bp.enables)
	}
	if s.Status().Restarts < 1 {
		t.Errorf("restart not counted: %+v", s.Status())
	}
}

// A dataplane that never becomes healthy is not given the ports.
func TestUnhealthyStartKeepsBypass(t *testing.T) {
	bp := &fakeBypass{}
	var starts atomic.Int32
	s := start(t, Config{
		Command:      func() *exec.Cmd { starts.Add(1); return exec.Command("sleep", "60") },
		Probe:        func(context.Context) error { return errors.New("no answer") },
		Bypass:       bp,
		FailOpen:     true,
		StartTimeout: 100 * time.Millisecond,
		MinBackoff:   10 * time.Millisecond,
		MaxBackoff:   20 * time.Millisecond,
		Log:          quiet(),
	})
	waitFor(t, "several failed starts", func() bool { return starts.Load() >= 3 })
	if st := s.Status(); st.State != Bypass || !bp.active() {
		t.Fatalf("state %+v, bypass %v; want bypass on", st, bp.active())
	}
}

// The failure mode changes at once: a failed box with the bypass on is
// isolated when switched to fail-closed, and bridged again when switched
// back; the next healthy dataplane takes the bypass away in either mode.
func TestFailModeSwitchedLive(t *testing.T) {
	var alive atomic.Bool
	bp := &fakeBypass{}
	s := start(t, Config{
		Command: func() *exec.Cmd {
			if alive.Load() {
				return exec.Command("sleep", "60")
			}
			return exec.Command("sh", "-c", "exit 3")
		},
		Probe:         func(context.Context) error { return nil },
		Bypass:        bp,
		FailOpen:      true,
		ProbeInterval: 20 * time.Millisecond,
		MinBackoff:    50 * time.Millisecond,
		MaxBackoff:    50 * time.Millisecond,
		Log:           quiet(),
	})
	waitFor(t, "bypass while the dataplane cannot start", func() bool { return s.Status().State == Bypass && bp.active() })

	s.SetFailOpen(false)
	if st := s.Status(); st.State != Isolated || bp.active() {
		t.Fatalf("after switching to fail-closed: %s, bypass %v", st.State, bp.active())
	}
	time.Sleep(200 * time.Millisecond) // more failed starts: they must stay isolated
	if st := s.Status(); st.State != Isolated || bp.active() {
		t.Fatalf("fail-closed box with a failing dataplane: %s, bypass %v", st.State, bp.active())
	}

	s.SetFailOpen(true)
	if st := s.Status(); st.State != Bypass || !bp.active() {
		t.Fatalf("after switching back to fail-open: %s, bypass %v", st.State, bp.active())
	}
	s.SetFailOpen(false)
	alive.Store(true)
	waitFor(t, "forwarding once a dataplane starts", func() bool { return s.Status().State == Forwarding })
	if bp.active() {
		t.Fatal("bypass left on while forwarding")
	}
}
