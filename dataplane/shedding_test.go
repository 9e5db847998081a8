package dataplane

import (
	"net/netip"
	"testing"
	"time"

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
