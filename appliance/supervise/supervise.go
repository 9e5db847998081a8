// Package supervise keeps the dataplane process running and the rack
// reachable. It starts the dataplane, probes it, and when the dataplane
// exits or stops answering it either joins the ports in a kernel bridge
// (fail-open, the default) or leaves them isolated (fail-closed), then brings
// a fresh dataplane up and hands the ports back once it is healthy.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// State is where the ports are.
type State string

const (
	Starting   State = "starting"   // a dataplane is coming up; ports not yet forwarded by it
	Forwarding State = "forwarding" // the dataplane forwards and passes its probe
	Bypass     State = "bypass"     // fail-open: a kernel bridge joins the ports
	Isolated   State = "isolated"   // fail-closed: nothing crosses
)

// Bypass switches the kernel bridge that joins the ports.
type BypassSwitch interface {
	Enable() error
	Disable() error
}

// Config describes the dataplane and how to judge it.
type Config struct {
	// Command builds a fresh dataplane command each time one is started.
	Command func() *exec.Cmd
	// Probe returns nil while the running dataplane is healthy.
	Probe func(ctx context.Context) error
	// Ready, if set, is called once a started dataplane passes its probe and
	// before the bypass is removed (e.g. to switch it from standby to
	// forwarding). An error counts as a failed start.
	Ready  func(ctx context.Context) error
	Bypass BypassSwitch
	// FailOpen is the failure mode at start; SetFailOpen changes it.
	FailOpen bool

	StartTimeout  time.Duration // a new dataplane must pass its probe within this; default 15 s
	ProbeInterval time.Duration // default 1 s
	ProbeFailures int           // consecutive failed probes that count as dead; default 3
	MinBackoff    time.Duration // wait before restarting; default 1 s, doubling to MaxBackoff
	MaxBackoff    time.Duration // default 30 s

	Log     *slog.Logger
	OnState func(State, string) // called on every change with a reason
}

// Supervisor runs the loop; its State is safe to read from any goroutine.
type Supervisor struct {
	cfg Config

	// modeMu orders the transitions that depend on the failure mode (a
	// failure, handing the ports back, a mode change) so a change of mode
	// never interleaves with one of them.
	modeMu   sync.Mutex
	failOpen bool

	mu       sync.Mutex
	state    State
	why      string
	since    time.Time
	restarts int
}

// New fills in defaults.
func New(cfg Config) *Supervisor {
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = 15 * time.Second
	}
	if cfg.ProbeInterval == 0 {
		cfg.ProbeInterval = time.Second
	}
	if cfg.ProbeFailures == 0 {
		cfg.ProbeFailures = 3
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Supervisor{cfg: cfg, failOpen: cfg.FailOpen, state: Starting, since: time.Now()}
}

// Status is a snapshot for the UI and metrics.
type Status struct {
	State    State
	Reason   string
	Since    time.Time
	Restarts int
}

// Status returns the current state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Status{State: s.state, Reason: s.why, Since: s.since, Restarts: s.restarts}
}

func (s *Supervisor) set(st State, why string) {
	s.mu.Lock()
	changed := s.state != st
	if changed {
		s.state, s.why, s.since = st, why, time.Now()
	}
	s.mu.Unlock()
	if !changed {
		return
	}
	s.cfg.Log.Info("ports", "state", string(st), "reason", why)
	if s.cfg.OnState != nil {
		s.cfg.OnState(st, why)
	}
}

// Run supervises until ctx ends; then it stops the dataplane and leaves the
// ports as the failure mode says (bridged when fail-open), so the rack stays
// reachable while the appliance itself restarts.
func (s *Supervisor) Run(ctx context.Context) error {
	backoff := s.cfg.MinBackoff
	for {
		why := s.runOnce(ctx)
		if ctx.Err() != nil {
			s.fail("appliance stopping")
			return nil
		}
		s.mu.Lock()
		s.restarts++
		s.mu.Unlock()
		s.fail(why)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
		if why == "" {
			backoff = s.cfg.MinBackoff
		}
	}
}

// SetFailOpen changes the failure mode at once. Ports already failed move
// to the new mode (the bypass comes on, or goes and the ports are
// isolated); a forwarding dataplane keeps forwarding and the mode applies
// to its next failure.
func (s *Supervisor) SetFailOpen(open bool) {
	s.modeMu.Lock()
	defer s.modeMu.Unlock()
	if s.failOpen == open {
		return
	}
	s.failOpen = open
	st := s.Status()
	switch {
	case open && st.State == Isolated:
		s.failLocked(st.Reason)
	case !open && st.State == Bypass:
		if err := s.cfg.Bypass.Disable(); err != nil {
			s.cfg.Log.Error("bypass could not be removed for fail-closed", "err", err)
			return
		}
		s.set(Isolated, st.Reason)
	}
}

// fail moves the ports to the failure mode.
func (s *Supervisor) fail(why string) {
	s.modeMu.Lock()
	defer s.modeMu.Unlock()
	s.failLocked(why)
}

func (s *Supervisor) failLocked(why string) {
	if !s.failOpen {
		s.set(Isolated, why)
		return
	}
	if err := s.cfg.Bypass.Enable(); err != nil {
		s.cfg.Log.Error("bypass could not be enabled", "err", err)
		s.set(Isolated, why+"; bypass failed: "+err.Error())
		return
	}
	s.set(Bypass, why)
}

// runOnce starts one dataplane and returns why it ended.
func (s *Supervisor) runOnce(ctx context.Context) string {
	cmd := s.cfg.Command()
	if err := cmd.Start(); err != nil {
		return fmt.Sprintf("dataplane did not start: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}

	if why := s.awaitHealthy(ctx, exited); why != "" {
		stop()
		return why
	}
	if s.cfg.Ready != nil {
		if err := s.cfg.Ready(ctx); err != nil {
			stop()
			return fmt.Sprintf("dataplane not ready: %v", err)
		}
	}
	// The bypass goes whatever the mode is now: it may have come on under
	// fail-open before a switch to fail-closed. Removing an absent bypass
	// is a no-op.
	s.modeMu.Lock()
	if err := s.cfg.Bypass.Disable(); err != nil {
		s.modeMu.Unlock()
		stop()
		return fmt.Sprintf("bypass could not be removed: %v", err)
	}
	s.set(Forwarding, "dataplane healthy")
	s.modeMu.Unlock()

	tick := time.NewTicker(s.cfg.ProbeInterval)
	defer tick.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			stop()
			return ""
		case err := <-exited:
			return fmt.Sprintf("dataplane exited: %v", exitText(err))
		case <-tick.C:
			if err := s.probe(ctx); err != nil {
				failures++
				if failures >= s.cfg.ProbeFailures {
					_ = cmd.Process.Kill()
					<-exited
					return fmt.Sprintf("dataplane failed %d probes: %v", failures, err)
				}
				continue
			}
			failures = 0
		}
	}
}

func (s *Supervisor) awaitHealthy(ctx context.Context, exited chan error) string {
	deadline := time.Now().Add(s.cfg.StartTimeout)
	for {
		select {
		case <-ctx.Done():
			return "appliance stopping"
		case err := <-exited:
			exited <- err // stop() waits on it too
			return fmt.Sprintf("dataplane exited while starting: %v", exitText(err))
		case <-time.After(100 * time.Millisecond):
		}
		err := s.probe(ctx)
		if err == nil {
			return ""
		}
		if time.Now().After(deadline) {
			return fmt.Sprintf("dataplane not healthy within %v: %v", s.cfg.StartTimeout, err)
		}
	}
}

func (s *Supervisor) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, s.cfg.ProbeInterval)
	defer cancel()
	return s.cfg.Probe(pctx)
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	return err.Error()
}
