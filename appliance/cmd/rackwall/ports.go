package main

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/rackwall/rackwall/appliance/links"
)

// linkControl serializes the one rtnetlink connection: the supervisor, the
// health check and the UI all read or change links.
type linkControl struct {
	log *slog.Logger
	mu  sync.Mutex
	c   *links.Conn
}

// open dials rtnetlink, retrying until it works or ctx ends.
func (l *linkControl) open(ctx context.Context) error {
	for {
		c, err := links.Dial()
		if err == nil {
			l.c = c
			return nil
		}
		l.log.Error("rtnetlink unavailable, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}

func (l *linkControl) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.c != nil {
		l.c.Close()
	}
}

// waitFor blocks until every named interface exists: NICs can appear late
// (USB adapters, slow drivers), and that is no reason to exit.
func (l *linkControl) waitFor(ctx context.Context, names ...string) error {
	logged := time.Time{}
	for {
		var missing []string
		for _, n := range names {
			if _, err := net.InterfaceByName(n); err != nil {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		if time.Since(logged) > 30*time.Second {
			l.log.Warn("waiting for interfaces", "missing", missing)
			logged = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// preparePorts makes the bridge ports silent and up and the management
// port up, retrying until it succeeds.
func (l *linkControl) preparePorts(ctx context.Context, f flags, mtu int) error {
	names := []string{f.uplink, f.rack}
	if f.mgmt != "" {
		names = append(names, f.mgmt)
	}
	for {
		if err := l.waitFor(ctx, names...); err != nil {
			return err
		}
		err := l.prepareOnce(f, mtu)
		if err == nil {
			for _, p := range []string{f.uplink, f.rack} {
				if st, err := l.state(p); err == nil {
					l.log.Info("port ready", "port", p, "up", st.Up, "carrier", st.Carrier, "mtu", st.MTU, "speed_mbps", st.SpeedMbps)
				}
			}
			return nil
		}
		l.log.Error("preparing ports failed, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}

func (l *linkControl) prepareOnce(f flags, mtu int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range []string{f.uplink, f.rack} {
		if err := l.c.PrepareBridgePort(p, mtu); err != nil {
			return err
		}
	}
	if f.mgmt != "" {
		return l.c.SetUp(f.mgmt)
	}
	return nil
}

func (l *linkControl) setStatic(name string, st links.Static) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.SetStatic(name, st)
}

func (l *linkControl) state(name string) (links.LinkState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.State(name)
}

func (l *linkControl) bypassActive() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c.BypassActive()
}

// bypassSwitch is the supervisor's handle on the kernel bridge.
type bypassSwitch struct {
	links *linkControl
	ports []string
	log   *slog.Logger
}

func (b *bypassSwitch) Enable() error {
	b.links.mu.Lock()
	defer b.links.mu.Unlock()
	return b.links.c.EnableBypass(b.ports...)
}

func (b *bypassSwitch) Disable() error {
	b.links.mu.Lock()
	defer b.links.mu.Unlock()
	return b.links.c.DisableBypass(b.ports...)
}
