package dataplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
	"github.com/rackwall/rackwall/dataplane/capture"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/filter"
	"github.com/rackwall/rackwall/dataplane/frag"
	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// Config says what the engine bridges and under which policy.
type Config struct {
	// Uplink and Rack name the interfaces to bridge; they are opened with
	// PortOptions, one queue per worker, unless ports are given below.
	Uplink, Rack string
	// Workers is how many packet loops run, each with a queue of its own
	// on both ports. 0 means runtime.NumCPU() for interfaces the engine
	// opens, and one per given queue otherwise.
	Workers int
	// Policy is the sanitization policy; nil means config.Default().
	Policy *config.Policy
	// Rules is the filter rule set; nil passes everything the policy passes.
	Rules *rules.RuleSet
	// Logger gets one line per notable event; nil means slog's default.
	Logger *slog.Logger
	// PortOptions size the AF_PACKET rings.
	PortOptions afpacket.Options
	// UplinkPort and RackPort, when both set, are used instead of opening
	// Uplink and Rack (in-memory ports for tests, or ports opened
	// elsewhere); the engine then runs one worker.
	UplinkPort, RackPort Port
	// UplinkQueues and RackQueues, when set, are the queues of the two
	// ports, one of each per worker: worker i serves UplinkQueues[i] and
	// RackQueues[i].
	UplinkQueues, RackQueues []Port
}

// Engine bridges two ports through the pipeline. Create it with New and
// start it with Run.
//
// Each worker serves one queue of each port and transmits through its own
// queues, so workers share no port. The state they share is safe for
// concurrent use on its own terms, with no engine-wide lock: the filter's
// connection table is sharded by connection, the quarantine table and the
// capture ring have their own locks, counters are per worker and summed
// on reading, and the policy is an immutable value swapped atomically.
// The reassembler has one lock, taken only for fragments: its budgets
// (fragment_memory, per-source floors and rates, max_datagrams) are for
// the whole box, so they live in one place.
type Engine struct {
	log    *slog.Logger
	epoch  time.Time // when New ran; progress is measured from it (monotonic)
	ports  [2]Port   // the first queue of each port: its name and link state
	queues [2][]Port // queues[port][i] belongs to worker i
	owned  bool      // the engine opened the ports and closes them

	// pol is the policy in force. A policy is never changed once stored:
	// SetPolicy stores a new one, and a worker takes one per batch.
	pol   atomic.Pointer[config.Policy]
	polMu sync.Mutex // orders SetPolicy calls

	// fragMu guards the reassembler and fragCur, the worker inside a
	// frag.Submit (nil while the housekeeper expires fragments).
	fragMu  sync.Mutex
	frag    *frag.Reassembler
	fragCur *worker

	filt *filter.Filter
	quar *quarantine.Table
	capt *capture.Ring

	workers []worker
	// hk counts what the housekeeper drops: fragments whose datagram
	// timed out. Written under fragMu.
	hk      [2]portCounters
	running atomic.Bool

	shed shedState // quarantined sources cut in the kernel; housekeeping's
}

// New opens the ports and builds the pipeline.
func New(cfg Config) (*Engine, error) {
	e := &Engine{log: cfg.Logger, epoch: time.Now()}
	if e.log == nil {
		e.log = slog.Default()
	}
	pol := config.Default()
	if cfg.Policy != nil {
		pol = *cfg.Policy
	}
	e.pol.Store(&pol)
	if err := e.openQueues(&cfg); err != nil {
		return nil, err
	}
	n := len(e.queues[Uplink])
	e.frag = frag.New(&pol, (*fragSink)(e))
	e.filt = filter.NewSharded(&pol, filterShards(n, pol.MaxConnections))
	if cfg.Rules != nil {
		e.filt.Load(cfg.Rules)
	}
	e.quar = quarantine.New(&pol)
	e.watchQuarantines()
	e.capt = capture.New(pol.CaptureFrames, pol.CaptureSnap)
	e.workers = make([]worker, n)
	for i := range e.workers {
		e.workers[i].init(e, i)
	}
	return e, nil
}

// openQueues takes the queues cfg gives or opens the interfaces it names.
func (e *Engine) openQueues(cfg *Config) error {
	if cfg.Workers < 0 {
		return fmt.Errorf("dataplane: %d workers", cfg.Workers)
	}
	switch {
	case len(cfg.UplinkQueues) > 0 || len(cfg.RackQueues) > 0:
		if len(cfg.UplinkQueues) != len(cfg.RackQueues) {
			return fmt.Errorf("dataplane: %d uplink queues but %d rack queues", len(cfg.UplinkQueues), len(cfg.RackQueues))
		}
		for i := range cfg.UplinkQueues {
			if cfg.UplinkQueues[i] == nil || cfg.RackQueues[i] == nil {
				return fmt.Errorf("dataplane: queue %d is missing", i)
			}
		}
		e.queues = [2][]Port{cfg.UplinkQueues, cfg.RackQueues}
	case cfg.UplinkPort != nil && cfg.RackPort != nil:
		e.queues = [2][]Port{{cfg.UplinkPort}, {cfg.RackPort}}
	case cfg.UplinkPort != nil || cfg.RackPort != nil:
		return errors.New("dataplane: give both ports or neither")
	default:
		if cfg.Uplink == "" || cfg.Rack == "" {
			return errors.New("dataplane: uplink and rack interfaces are required")
		}
		if cfg.Uplink == cfg.Rack {
			return fmt.Errorf("dataplane: uplink and rack are the same interface %q", cfg.Uplink)
		}
		n := cfg.Workers
		if n == 0 {
			n = runtime.NumCPU()
		}
		opts := cfg.PortOptions
		if opts.Logger == nil {
			opts.Logger = e.log
		}
		up, err := afpacket.OpenQueues(cfg.Uplink, n, opts)
		if err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		rack, err := afpacket.OpenQueues(cfg.Rack, n, opts)
		if err != nil {
			for _, q := range up {
				q.Close()
			}
			return fmt.Errorf("rack: %w", err)
		}
		for i := range n {
			e.queues[Uplink] = append(e.queues[Uplink], up[i])
			e.queues[Rack] = append(e.queues[Rack], rack[i])
		}
		e.owned = true
	}
	if n := len(e.queues[Uplink]); cfg.Workers != 0 && cfg.Workers != n {
		return fmt.Errorf("dataplane: %d workers but %d queues per port", cfg.Workers, n)
	}
	e.ports = [2]Port{e.queues[Uplink][0], e.queues[Rack][0]}
	return nil
}

// filterShards is how many shards the connection table of n workers has:
// one for one worker (no lock is ever contended); else a multiple of the
// workers, so each shard serves one worker's flows (see
// filter.NewSharded), up to eight each, but no more than keep shards at
// 4,096 connections or over, so a shard fills (FW3) about when the whole
// table would.
func filterShards(workers, maxConnections int) int {
	if workers <= 1 {
		return 1
	}
	return workers * min(8, max(1, maxConnections/4096/workers))
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
	e.log.Info("dataplane started", "uplink", e.ports[Uplink].Name(), "rack", e.ports[Rack].Name(), "workers", len(e.workers))
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
		for _, qs := range e.queues {
			for _, q := range qs {
				q.(*afpacket.Port).Close()
			}
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
	e.fragMu.Lock()
	e.frag.Expire(now)
	e.fragMu.Unlock()
	e.filt.Expire(now)
	e.quar.Expire(now)
}

// Quarantine is the per-source accounting and quarantine table.
func (e *Engine) Quarantine() *quarantine.Table { return e.quar }

// Capture is the ring of recently dropped frames.
func (e *Engine) Capture() *capture.Ring { return e.capt }

// Filter is the stateful filter; safe for concurrent use.
func (e *Engine) Filter() *filter.Filter { return e.filt }

// Ports returns the uplink and rack ports (their first queues).
func (e *Engine) Ports() [2]Port { return e.ports }

// Workers is how many packet loops the engine runs.
func (e *Engine) Workers() int { return len(e.workers) }

// Policy returns a copy of the policy in force.
func (e *Engine) Policy() config.Policy { return *e.pol.Load() }

// SetPolicy installs a new policy. Each worker takes it at its next batch,
// so no frame's decoding and rewriting sees half of it. The filter's
// connection table and rate limits keep the size they were created with
// until the next start.
func (e *Engine) SetPolicy(p *config.Policy) {
	np := *p
	e.polMu.Lock()
	defer e.polMu.Unlock()
	e.pol.Store(&np)
	e.fragMu.Lock()
	e.frag.SetPolicy(&np)
	e.fragMu.Unlock()
	e.quar.SetPolicy(&np)
}

// LoadRules replaces the filter's rule set; each packet is judged wholly
// by the old or wholly by the new one.
func (e *Engine) LoadRules(rs *rules.RuleSet) { e.filt.Load(rs) }

// FragStats is the reassembler's state.
func (e *Engine) FragStats() frag.Stats {
	e.fragMu.Lock()
	defer e.fragMu.Unlock()
	return e.frag.Stats()
}

// FilterStats is the filter's state.
func (e *Engine) FilterStats() filter.Stats { return e.filt.Stats() }
