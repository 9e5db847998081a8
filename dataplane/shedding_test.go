package dataplane

import (
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// A quarantine reaches the ports' socket filters: the source's frames
// arrive cut, are counted as quarantined and never forwarded, while
// everyone else's pass; a release removes the cut.
func TestQuarantineCutsInTheKernelFilter(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	k, _ := source.Parse("198.51.100.66")
	now := time.Now()
	if err := e.Quarantine().Quarantine(k, time.Minute, "test", now); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.shed.dirty:
	default:
		t.Fatal("a quarantine did not ask for new socket filters")
	}
	e.updateShedding(now)

	big := make([]byte, 1000)
	flood := udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, big)
	other := udp4Frame("198.51.100.67", "192.0.2.10", 1, 2, big)
	up.Inject(flood)
	up.Inject(other)
	up.Inject(flood)
	pumpAll(e)
	sameFrames(t, "uplink→rack", rack.Sent(), [][]byte{other})
	if d := e.Counters().Ports[Uplink].DropsByReason[reason.Quarantined]; d != 2 {
		t.Fatalf("quarantined drops %d, want 2", d)
	}
	if st, _, ok := e.Quarantine().Source(k, now); !ok || st.Counts[reason.Quarantined] != 2 {
		t.Fatalf("cut frames not charged to their source: %+v", st)
	}

	// A frame cut while the source was quarantined is not forwarded even
	// if the quarantine ended before the dataplane read it.
	up.Inject(flood)
	if err := e.Quarantine().Release(k, "test", now); err != nil {
		t.Fatal(err)
	}
	pumpAll(e)
	sameFrames(t, "after release, the frame cut before it", rack.Sent(), nil)
	if d := e.Counters().Ports[Uplink].DropsByReason; d[reason.Quarantined] != 3 {
		t.Fatalf("quarantined drops %d, want 3: the frame cut before the release was dropped for another reason", d[reason.Quarantined])
	}

	e.updateShedding(now)
	up.Inject(flood)
	pumpAll(e)
	sameFrames(t, "after release", rack.Sent(), [][]byte{flood})
}

// A policy reload that protects an address rebuilds the socket filters
// even though the quarantined sources did not change: the protected
// host's frames pass whole although its MAC stays quarantined.
func TestPolicyReloadRebuildsKernelFilter(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	now := time.Now()
	if err := e.Quarantine().Quarantine(source.FromMAC(macRack), time.Minute, "test", now); err != nil {
		t.Fatal(err)
	}
	e.updateShedding(now)
	gateway := udp4Frame("192.0.2.1", "198.51.100.7", 53, 4000, make([]byte, 500))
	rack.Inject(gateway)
	pumpAll(e)
	sameFrames(t, "quarantined MAC", up.Sent(), nil)

	pol := e.Policy()
	pol.NeverQuarantine = []netip.Prefix{netip.MustParsePrefix("192.0.2.1/32")}
	e.SetPolicy(&pol)
	e.updateShedding(now)
	rack.Inject(gateway)
	pumpAll(e)
	sameFrames(t, "protected address behind the quarantined MAC", up.Sent(), [][]byte{gateway})
}

// countingPort counts the socket filters installed on it.
type countingPort struct {
	*MemPort
	installs int
}

func (c *countingPort) SetFilter(prog []bpf.RawInstruction, cut int) {
	c.installs++
	c.MemPort.SetFilter(prog, cut)
}

// Quarantined sources trading places in activity do not reinstall the
// filters; a new source does.
func TestKernelFilterNotReinstalledForReordering(t *testing.T) {
	up, rack := &countingPort{MemPort: NewMemPort("uplink0")}, &countingPort{MemPort: NewMemPort("rack0")}
	e, err := New(Config{UplinkPort: up, RackPort: rack, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	a, b := source.FromAddr(netip.MustParseAddr("198.51.100.1")), source.FromAddr(netip.MustParseAddr("198.51.100.2"))
	for _, k := range []source.Key{a, b} {
		if err := e.Quarantine().Quarantine(k, time.Minute, "test", now); err != nil {
			t.Fatal(err)
		}
	}
	charge := func(k source.Key, n int) {
		keys := [source.MaxKeys]source.Key{k}
		for range n {
			e.Quarantine().Charge(keys, 1, reason.Quarantined, now)
		}
	}
	charge(a, 5)
	e.updateShedding(now)
	charge(b, 10) // b is now the busier one
	e.updateShedding(now)
	if up.installs != 1 || rack.installs != 1 {
		t.Fatalf("filters installed %d and %d times, want once each", up.installs, rack.installs)
	}
	if err := e.Quarantine().Quarantine(source.FromAddr(netip.MustParseAddr("198.51.100.3")), time.Minute, "test", now); err != nil {
		t.Fatal(err)
	}
	e.updateShedding(now)
	if up.installs != 2 || rack.installs != 2 {
		t.Fatalf("a new source: filters installed %d and %d times, want twice each", up.installs, rack.installs)
	}
}
