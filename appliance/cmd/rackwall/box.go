package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/rackwall/rackwall/appliance"
	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/appliance/supervise"
	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/webui"
)

// retryEvery is how long the appliance waits before trying again something
// that failed for a reason time can fix (a missing interface, a busy port).
const retryEvery = 2 * time.Second

// box is the running appliance.
type box struct {
	f         flags
	log       *slog.Logger
	started   time.Time
	onBox     bool // running as a gokrazy service on a rackwall image
	runtime   string
	ownsRun   bool // runtime was created here and is removed at exit
	links     *linkControl
	store     *store.Store
	backend   *appliance.Backend
	ui        *webui.Server
	sup       *supervise.Supervisor
	child     *child
	health    *healthState
	update    *update.Agent // nil off the box or when the agent could not start
	updateErr error
	settings  store.Settings // in force: the MTU follows changes, the fail mode and listen address need a restart
}

func newBox(f flags, log *slog.Logger) (*box, error) {
	a := &box{f: f, log: log, started: time.Now(), onBox: onGokrazy(), health: &healthState{}}
	return a, nil
}

// run brings the box up and serves until ctx ends.
func (a *box) run(ctx context.Context) error {
	a.log.Info("starting", "uplink", a.f.uplink, "rack", a.f.rack, "mgmt", a.f.mgmt, "state", a.f.state,
		"dataplane", a.f.dataplane, "on_box", a.onBox, "version", version())

	if err := a.openStore(ctx); err != nil || a.store == nil {
		return err // nil: stopped while waiting for the state folder
	}
	audit := store.NewAuditLog(a.f.state, nil)
	a.settings = a.store.Current().Config.Settings

	if err := a.prepareRuntime(); err != nil {
		// A folder that cannot be made in /tmp is not something to retry.
		return err
	}
	defer a.removeRuntime()

	a.links = &linkControl{log: a.log}
	if err := a.links.open(ctx); err != nil {
		return nil // only a stop ends the retries
	}
	defer a.links.close()
	if err := a.links.preparePorts(ctx, a.f, a.settings.BridgeMTU); err != nil {
		return nil
	}
	a.addressManagement()
	failOpen := a.settings.FailMode != "closed"
	bypass := &bypassSwitch{links: a.links, ports: []string{a.f.uplink, a.f.rack}, log: a.log}
	if failOpen {
		// The rack stays reachable while the dataplane starts; the
		// supervisor takes the bridge away once the dataplane is healthy.
		if err := bypass.Enable(); err != nil {
			a.log.Error("bypass could not be enabled at start", "err", err)
		} else {
			a.log.Info("bypass on while the dataplane starts")
		}
	}

	sock := filepath.Join(a.runtime, "control.sock")
	ctl := control.Dial(sock)
	a.child = &child{
		binary: a.f.dataplane, uplink: a.f.uplink, rack: a.f.rack, dir: a.runtime, socket: sock,
		config: func() store.Config { return a.store.Current().Config }, log: a.log,
	}

	var err error
	a.backend, err = appliance.NewBackend(appliance.BackendOptions{
		Store: a.store, Audit: audit, Dataplane: ctl,
		Reboot:  a.rebootFunc(),
		Version: version(), Slot: bootSlot(), Started: a.started,
		Bypass: func() (bool, string) {
			st := a.sup.Status()
			return st.State == supervise.Bypass || st.State == supervise.Isolated, st.Reason
		},
		LinkSpeed: func(port string) int {
			st, err := a.links.state(port)
			if err != nil {
				return 0
			}
			return st.SpeedMbps
		},
		OnCommit: a.onCommit,
		Logger:   a.log,
	})
	if err != nil {
		return err
	}
	a.sup = supervise.New(supervise.Config{
		Command: a.child.command,
		Probe:   func(ctx context.Context) error { return probe(ctx, ctl) },
		Ready: func(ctx context.Context) error {
			if err := a.backend.PushConfig(ctx); err != nil {
				return err
			}
			a.log.Info("rules and policy applied to the dataplane", "pid", a.child.pid())
			return nil
		},
		Bypass:   bypass,
		FailOpen: failOpen,
		Log:      a.log,
		OnState:  a.onPortState,
	})

	a.ui, err = webui.New(webui.Options{
		Monitor: a.backend, Config: a.backend, Accounts: a.backend, Events: a.backend, System: a.backend,
		TLS: !a.f.plainHTTP, Logger: a.log,
	})
	if err != nil {
		return err
	}
	if err := registerMetrics(a.ui.Registerer(), a.sup, a.child); err != nil {
		return err
	}
	a.startUpdates()
	for _, w := range a.health.takeWarnings() {
		a.backend.Events().Publish(webui.Event{Time: time.Now(), Kind: webui.EventConfig, Actor: "system", Message: w})
	}

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { a.sup.Run(runCtx) })
	wg.Go(func() { a.backend.Run(runCtx) })
	wg.Go(func() { a.ui.Run(runCtx) })
	wg.Go(func() { a.serve(runCtx) })
	wg.Go(func() { a.logEvents(runCtx) })
	wg.Go(func() { a.afterBoot(runCtx) })
	wg.Go(func() { a.followChannel(runCtx) })
	<-ctx.Done()
	a.log.Info("stopping", "reason", context.Cause(ctx))
	cancel()
	wg.Wait()
	return nil
}

// openStore loads the config, retrying while the state folder cannot be
// made (a perm partition that is not mounted yet). Repairs are logged and
// kept to be shown as events.
func (a *box) openStore(ctx context.Context) error {
	for {
		st, warnings, err := store.Open(a.f.state, store.Options{})
		if err == nil {
			a.store = st
			cur := st.Current()
			for _, w := range warnings {
				a.log.Warn("config load problem", "problem", w)
			}
			a.health.setConfig(true, warnings)
			a.log.Info("config loaded", "revision", cur.N, "author", cur.Author, "summary", cur.Summary,
				"fail_mode", cur.Config.Settings.FailMode, "bridge_mtu", cur.Config.Settings.BridgeMTU)
			return nil
		}
		a.log.Error("config store unavailable, retrying", "dir", a.f.state, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryEvery):
		}
	}
}

func (a *box) prepareRuntime() error {
	if a.f.runtime != "" {
		if err := os.MkdirAll(a.f.runtime, 0o700); err != nil {
			return fmt.Errorf("runtime folder: %w", err)
		}
		a.runtime = a.f.runtime
		return nil
	}
	dir, err := os.MkdirTemp("", "rackwall-run-")
	if err != nil {
		return fmt.Errorf("runtime folder: %w", err)
	}
	a.runtime, a.ownsRun = dir, true
	return nil
}

func (a *box) removeRuntime() {
	if a.ownsRun {
		os.RemoveAll(a.runtime)
	}
}

// onCommit reacts to stored changes the appliance owns. The bridge MTU and
// the fail mode are applied at once; the listen addresses when the
// appliance next starts (the listeners are built once), the management
// addressing at the next boot.
func (a *box) onCommit(r store.Revision) {
	s := r.Config.Settings
	a.applyChannel(s)
	if s.BridgeMTU != a.settings.BridgeMTU {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.links.preparePorts(ctx, a.f, s.BridgeMTU); err != nil {
			a.log.Error("bridge MTU not applied", "mtu", s.BridgeMTU, "err", err)
		} else {
			a.log.Info("bridge MTU applied", "mtu", s.BridgeMTU)
			a.settings.BridgeMTU = s.BridgeMTU
		}
	}
	if s.FailMode != a.settings.FailMode {
		if a.sup != nil {
			a.sup.SetFailOpen(s.FailMode != "closed")
		}
		a.settings.FailMode = s.FailMode
		a.log.Info("fail mode applied", "fail_mode", s.FailMode)
	}
	if a.f.mgmt != "" && (s.MgmtMode != a.settings.MgmtMode || s.MgmtAddress != a.settings.MgmtAddress ||
		s.MgmtGateway != a.settings.MgmtGateway || !slices.Equal(s.MgmtDNS, a.settings.MgmtDNS)) {
		a.log.Warn("management addressing changed; it takes effect at the next boot", "mode", s.MgmtMode, "address", s.MgmtAddress)
	}
}

// addressManagement gives the management port its static address, default
// route and name servers when the settings ask for them. (With DHCP, init
// runs gokrazy's client on the port instead; see appliance/cmd/init.) Done
// once at start: changing the address under a running session would cut
// the admin off mid-change, so a change waits for the next boot.
func (a *box) addressManagement() {
	st, dns, ok := a.settings.ManagementStatic()
	if a.f.mgmt == "" || !ok {
		return
	}
	if err := a.links.setStatic(a.f.mgmt, st); err != nil {
		a.log.Error("static management address not applied", "port", a.f.mgmt, "address", st.Address, "err", err)
		return
	}
	a.log.Info("management port addressed statically", "port", a.f.mgmt, "address", st.Address, "gateway", st.Gateway)
	if a.onBox && len(dns) > 0 {
		if err := appliance.WriteResolvConf("/etc/resolv.conf", dns); err != nil {
			a.log.Error("name servers not written", "err", err)
		}
	}
}

// onPortState logs and publishes every change of the ports.
func (a *box) onPortState(st supervise.State, why string) {
	var msg string
	switch st {
	case supervise.Bypass:
		a.log.Warn("bypass on: frames cross unfiltered through the kernel bridge", "reason", why)
		msg = "bypass on (fail-open): " + why
	case supervise.Isolated:
		a.log.Warn("ports isolated (fail-closed): nothing crosses", "reason", why)
		msg = "ports isolated (fail-closed): " + why
	case supervise.Forwarding:
		a.log.Info("bypass off: the dataplane forwards", "pid", a.child.pid(), "restarts", a.sup.Status().Restarts)
		msg = "dataplane forwarding"
	default:
		return
	}
	if a.backend != nil {
		a.backend.Events().Publish(webui.Event{Time: time.Now(), Kind: webui.EventBypass, Actor: "system", Message: msg})
	}
}

// logEvents writes one log line per event the backend publishes (config
// changes, reverts, rollbacks, logins, quarantines); the appliance logs
// its own bypass events where they happen.
func (a *box) logEvents(ctx context.Context) {
	events, cancel := a.backend.Events().Subscribe()
	defer cancel()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			if e.Kind == webui.EventBypass {
				continue
			}
			a.log.Info("event", "kind", e.Kind, "actor", e.Actor, "source", e.Source, "message", e.Message)
		}
	}
}
