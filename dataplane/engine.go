package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
	"github.com/rackwall/rackwall/dataplane/capture"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/filter"
	"github.com/rackwall/rackwall/dataplane/frag"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// Config says what the engine bridges and under which policy.
type Config struct {
	// Uplink and Rack name the interfaces to bridge; they are opened with
	// PortOptions unless UplinkPort and RackPort are given.
	Uplink, Rack string
	// Policy is the sanitization policy; nil means config.Default().
	Policy *config.Policy
	// Rules is the filter rule set; nil passes everything the policy passes.
	Rules *rules.RuleSet
	// Logger gets one line per notable event; nil means slog's default.
	Logger *slog.Logger
	// PortOptions size the AF_PACKET rings.
	PortOptions afpacket.Options
	// UplinkPort and RackPort, when both set, are used instead of opening
	// Uplink and Rack (in-memory ports for tests, or ports opened elsewhere).
	UplinkPort, RackPort Port
}

// Engine bridges two ports through the pipeline. Create it with New and
// start it with Run.
type Engine struct {
	log   *slog.Logger
	epoch time.Time // when New ran; progress is measured from it (monotonic)
	ports [2]Port
	owned bool // the engine opened the ports and closes them

	// mu guards the pipeline's state: pol, frag, filt and the workers'
	// scratch. It is held by a worker for one received batch at a time.
	mu   sync.Mutex
	pol  config.Policy
	frag *frag.Reassembler
	filt *filter.Filter
	quar *quarantine.Table
	capt *capture.Ring

	// txMu[i] serializes transmission on port i: the worker forwarding
	// onto it and, rarely, a fragment released onto it by the other one.
	txMu [2]sync.Mutex

	workers  [2]worker
	counters [2]portCounters
	running  atomic.Bool
	cur      *worker // the worker inside a frag.Submit, for the Sink

	shed shedState // quarantined sources cut in the kernel; housekeeping's
}

// New opens the ports and builds the pipeline.
func New(cfg Config) (*Engine, error) {
	e := &Engine{log: cfg.Logger, epoch: time.Now()}
	if e.log == nil {
		e.log = slog.Default()
	}
	e.pol = config.Default()
	if cfg.Policy != nil {
		e.pol = *cfg.Policy
	}
	switch {
	case cfg.UplinkPort != nil && cfg.RackPort != nil:
		e.ports = [2]Port{cfg.UplinkPort, cfg.RackPort}
	case cfg.UplinkPort != nil || cfg.RackPort != nil:
		return nil, errors.New("dataplane: give both ports or neither")
	default:
		if cfg.Uplink == "" || cfg.Rack == "" {
			return nil, errors.New("dataplane: uplink and rack interfaces are required")
		}
		if cfg.Uplink == cfg.Rack {
			return nil, fmt.Errorf("dataplane: uplink and rack are the same interface %q", cfg.Uplink)
		}
		opts := cfg.PortOptions
		if opts.Logger == nil {
			opts.Logger = e.log
		}
		up, err := afpacket.Open(cfg.Uplink, opts)
		if err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
		rack, err := afpacket.Open(cfg.Rack, opts)
		if err != nil {
			up.Close()
			return nil, fmt.Errorf("rack: %w", err)
		}
		e.ports = [2]Port{up, rack}
		e.owned = true
	}
	e.frag = frag.New(&e.pol, (*fragSink)(e))
	e.filt = filter.New(&e.pol)
	if cfg.Rules != nil {
		e.filt.Load(cfg.Rules)
	}
	e.quar = quarantine.New(&e.pol)
	e.watchQuarantines()
	e.capt = capture.New(e.pol.CaptureFrames, e.pol.CaptureSnap)
	e.workers[0].init(e, Uplink, packet.In)
	e.workers[1].init(e, Rack, packet.Out)
	return e, nil
}

// pollInterval bounds how long a worker blocks without looking at ctx.
const pollInterval = 100 * time.Millisecond

// housekeepEvery is how often timers of the stages (fragment deadlines,
// connection timeouts, quarantine expiry) are run.
const housekeepEvery = 100 * time.Millisecond

// Run forwards frames until ctx is cancelled, then returns nil. Ports the
// engine opened are closed when it returns.
func (e *Engine) Run(ctx context.Context) error {
	if !e.running.CompareAndSwap(false, true) {
		return errors.New("dataplane: engine already running")
	}
	defer e.running.Store(false)
	e.log.Info("dataplane started", "uplink", e.ports[Uplink].Name(), "rack", e.ports[Rack].Name())
	var wg sync.WaitGroup
	for i := range e.workers {
		w := &e.workers[i]
		wg.Go(func() { w.run(ctx) })
	}
	wg.Go(func() { e.housekeep(ctx) })
	wg.Wait()
	e.running.Store(false)
	e.Close()
	e.log.Info("dataplane stopped")
	return nil
}

// Close releases the ports the engine opened, for an engine that is not
// running (Run closes them itself when it returns).
func (e *Engine) Close() error {
	if e.running.Load() {
		return errors.New("dataplane: Close while running")
	}
	if e.owned {
		for _, p := range e.ports {
			p.(*afpacket.Port).Close()
		}
		e.owned = false
	}
	return nil
}

func (e *Engine) housekeep(ctx context.Context) {
	t := time.NewTicker(housekeepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			e.expire(now)
			e.updateShedding(now)
		case <-e.shed.dirty:
			e.updateShedding(time.Now())
		}
	}
}

// expire runs the stages' timers; dropped fragments reach fragSink.Drop.
func (e *Engine) expire(now time.Time) {
	e.mu.Lock()
	e.frag.Expire(now)
	e.filt.Expire(now)
	e.mu.Unlock()
	e.quar.Expire(now)
}

// Quarantine is the per-source accounting and quarantine table.
func (e *Engine) Quarantine() *quarantine.Table { return e.quar }

// Capture is the ring of recently dropped frames.
func (e *Engine) Capture() *capture.Ring { return e.capt }

// Filter is the stateful filter. Only its Rules, Load and Stats may be
// called while the engine runs: the rest belongs to the packet loop.
func (e *Engine) Filter() *filter.Filter { return e.filt }

// Ports returns the uplink and rack ports.
func (e *Engine) Ports() [2]Port { return e.ports }

// Policy returns a copy of the policy in force.
func (e *Engine) Policy() config.Policy {
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.pol
	return p
}

// SetPolicy installs a new policy for every stage at once, between two
// batches, so no frame sees half of it. The filter's connection table and
// rate limits keep the size they were created with until the next start.
func (e *Engine) SetPolicy(p *config.Policy) {
	e.mu.Lock()
	e.pol = *p
	e.frag.SetPolicy(&e.pol)
	e.mu.Unlock()
	e.quar.SetPolicy(&e.pol)
}

// LoadRules replaces the filter's rule set between two batches.
func (e *Engine) LoadRules(rs *rules.RuleSet) {
	e.mu.Lock()
	e.filt.Load(rs)
	e.mu.Unlock()
}

// FragStats is the reassembler's state.
func (e *Engine) FragStats() frag.Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.frag.Stats()
}

// FilterStats is the filter's state.
func (e *Engine) FilterStats() filter.Stats { return e.filt.Stats() }
