package appliance

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/webui"
)

// Dataplane is what the backend needs of the running dataplane.
// *control.Client (control.Dial) satisfies it.
type Dataplane interface {
	Status(ctx context.Context) (*control.Status, error)
	Sources(ctx context.Context, top int) ([]control.Source, error)
	Source(ctx context.Context, key string) (*control.Source, error)
	Quarantined(ctx context.Context) ([]control.QuarantineEntry, error)
	Quarantine(ctx context.Context, src string, d time.Duration, by string) error
	Release(ctx context.Context, src, by string) error
	Capture(ctx context.Context, w io.Writer, reasonName, src string) (int64, error)
	Events(ctx context.Context, since uint64) ([]control.Event, error)
	PutRules(ctx context.Context, text string) error
	PutPolicy(ctx context.Context, text string) error
}

var _ Dataplane = (*control.Client)(nil)

// BackendOptions are what the backend is built from. Store, Audit and
// Dataplane are required.
type BackendOptions struct {
	Store     *store.Store
	Audit     *store.AuditLog
	Dataplane Dataplane
	// Events is the fan-out; nil makes one from the store's settings.
	Events *EventHub
	// Clock drives the commit-confirm deadline; nil is the wall clock.
	Clock Clock
	// Reboot restarts the box; nil refuses reboots.
	Reboot func(ctx context.Context) error
	// Version, Slot and Started describe the running firmware.
	Version, Slot string
	Started       time.Time
	// Bypass reports whether the fail-open/closed bypass is engaged; nil: never.
	Bypass func() (active bool, why string)
	// LinkSpeed returns a port's link speed in Mbit/s (0 if unknown); nil: unknown.
	LinkSpeed func(port string) int
	// OnCommit is called after every stored change (settings the appliance
	// must act on: listen addresses, management port, MTU, fail mode).
	OnCommit func(store.Revision)
	// EventPoll is how often dataplane events are fetched (default 2 s).
	EventPoll time.Duration
	Logger    *slog.Logger
}

// Backend implements the webui interfaces (Monitor, Configurator,
// Accounts, Events, System) over the config store, the audit log, the
// commit-confirm logic and the dataplane control API.
type Backend struct {
	opts    BackendOptions
	store   *store.Store
	audit   *store.AuditLog
	dp      Dataplane
	events  *EventHub
	confirm *Confirmer
	log     *slog.Logger

	// runMu guards running: the rules and policy last pushed to the dataplane.
	runMu   sync.Mutex
	running store.Config
	pushed  bool

	// changeMu serializes the admin's rules and policy changes, so a direct
	// apply cannot slip between the pending check and a confirm-start.
	changeMu sync.Mutex

	eventSeq uint64
}

var (
	_ webui.Monitor      = (*Backend)(nil)
	_ webui.Configurator = (*Backend)(nil)
	_ webui.Accounts     = (*Backend)(nil)
	_ webui.Events       = (*Backend)(nil)
	_ webui.System       = (*Backend)(nil)
)

// NewBackend builds the backend. Call PushConfig once the dataplane is up
// (and again whenever it restarts) and Run for the event plumbing.
func NewBackend(opts BackendOptions) (*Backend, error) {
	if opts.Store == nil || opts.Audit == nil || opts.Dataplane == nil {
		return nil, errors.New("appliance: backend needs Store, Audit and Dataplane")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.EventPoll == 0 {
		opts.EventPoll = 2 * time.Second
	}
	b := &Backend{opts: opts, store: opts.Store, audit: opts.Audit, dp: opts.Dataplane, events: opts.Events, log: opts.Logger}
	if b.events == nil {
		b.events = NewEventHub(func() store.Settings { return b.store.Current().Config.Settings }, EventHubOptions{Logger: opts.Logger})
	}
	b.confirm = NewConfirmer(opts.Clock, b.apply, b.commitPending, b.reverted)
	return b, nil
}

// Events returns the event fan-out, for the appliance to publish its own
// events (bypass engaged, dataplane restarted).
func (b *Backend) Events() *EventHub { return b.events }

// PushConfig sends the stored rules and policy to the dataplane, whatever
// it runs now. A pending unconfirmed change is dropped: after a dataplane
// restart only the confirmed config is trusted.
func (b *Backend) PushConfig(ctx context.Context) error {
	if _, ok := b.confirm.Pending(); ok {
		b.confirm.Revert("system (dataplane restart)")
	}
	cfg := b.store.Current().Config
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if err := b.dp.PutPolicy(ctx, cfg.Policy); err != nil {
		b.pushed = false
		return fmt.Errorf("push policy: %w", err)
	}
	if err := b.dp.PutRules(ctx, cfg.Rules); err != nil {
		b.pushed = false
		return fmt.Errorf("push rules: %w", err)
	}
	b.running, b.pushed = cfg, true
	return nil
}

// apply pushes the parts of c that differ from what the dataplane runs.
func (b *Backend) apply(c store.Config) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.runMu.Lock()
	defer b.runMu.Unlock()
	if !b.pushed || c.Policy != b.running.Policy {
		if err := b.dp.PutPolicy(ctx, c.Policy); err != nil {
			return fmt.Errorf("dataplane refused the policy: %w", err)
		}
		b.running.Policy = c.Policy
	}
	if !b.pushed || c.Rules != b.running.Rules {
		if err := b.dp.PutRules(ctx, c.Rules); err != nil {
			return fmt.Errorf("dataplane refused the rules: %w", err)
		}
		b.running.Rules = c.Rules
	}
	b.pushed = true
	return nil
}

// Run relays the dataplane's quarantine events into the event fan-out and
// delivers events to syslog and the webhook until ctx ends.
func (b *Backend) Run(ctx context.Context) error {
	go b.events.Run(ctx)
	t := time.NewTicker(b.opts.EventPoll)
	defer t.Stop()
	first := true
	for {
		b.pollEvents(ctx, first)
		first = false
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// pollEvents publishes the dataplane events after the last one seen. The
// first poll only learns where the log stands, so a UI restart does not
// replay old events to syslog.
func (b *Backend) pollEvents(ctx context.Context, skip bool) {
	evs, err := b.dp.Events(ctx, b.eventSeq)
	if err != nil {
		return // the dataplane is down; health checks report that
	}
	for _, e := range evs {
		if e.Seq <= b.eventSeq && b.eventSeq != 0 {
			continue
		}
		b.eventSeq = e.Seq
		if !skip {
			b.events.Publish(dataplaneEvent(e))
		}
	}
}

func dataplaneEvent(e control.Event) webui.Event {
	out := webui.Event{Time: e.Time, Source: e.Source, Actor: e.By}
	switch e.Kind {
	case "quarantine":
		out.Kind = webui.EventQuarantine
		how := "automatically"
		if !e.Automatic {
			how = "by " + e.By
		}
		out.Message = fmt.Sprintf("%s quarantined %s until %s (offence %d, %d recent violations)",
			e.Source, how, e.Until.UTC().Format(time.RFC3339), e.Offence, e.Recent)
	case "release":
		out.Kind = webui.EventRelease
		out.Message = fmt.Sprintf("%s released by %s", e.Source, e.By)
	default: // expire, evicted
		out.Kind = webui.EventRelease
		out.Message = fmt.Sprintf("%s quarantine ended (%s)", e.Source, e.Kind)
	}
	return out
}

// Subscribe implements webui.Events.
func (b *Backend) Subscribe() (<-chan webui.Event, func()) { return b.events.Subscribe() }

// Publish implements webui.Events. Login events are also audited.
func (b *Backend) Publish(e webui.Event) {
	switch e.Kind {
	case webui.EventLoginFailure:
		b.record("login from "+e.Source, "login failed", "")
	case webui.EventLogin:
		b.record(e.Actor, "logged in", "from "+e.Source)
	}
	b.events.Publish(e)
}

// record appends to the audit log; a failing audit log is logged, not fatal.
func (b *Backend) record(actor, action, detail string) {
	if _, err := b.audit.Append(actor, action, detail); err != nil {
		b.log.Error("audit log", "err", err)
	}
}

// Reboot implements webui.System.
func (b *Backend) Reboot(ctx context.Context, actor string) error {
	if b.opts.Reboot == nil {
		return &webui.ConflictError{Msg: "reboot is not available on this system"}
	}
	b.record(actor, "reboot", "")
	b.events.Publish(webui.Event{Kind: webui.EventConfig, Actor: actor, Message: "reboot requested by " + actor})
	return b.opts.Reboot(ctx)
}
