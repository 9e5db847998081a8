package tests

import (
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// TestRingCopyForwards checks the benchmark's floor forwarder does what its
// column claims: it carries the rack's traffic both ways through the
// dataplane's rings, and stops cleanly on SIGTERM like the dataplane.
func TestRingCopyForwards(t *testing.T) {
	l := newLab(t, 1, "ping", "iperf3")
	bin, err := lab.BuildCommand(t.TempDir(), lab.RingCopyPackage)
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.StartForwarder(bin) // waits for a ping to cross it
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.IperfServer(l.Server(1), 5201); err != nil {
		t.Fatal(err)
	}
	for _, dir := range [][]string{nil, {"-R"}} {
		r, err := l.Iperf(l.ClientNS, append([]string{lab.ServerV4(1).String(), "-t", "1"}, dir...)...)
		if err != nil {
			t.Fatal(err)
		}
		if r.BytesReceived < 1<<20 {
			t.Errorf("tcp %v: only %d bytes arrived in 1 s", dir, r.BytesReceived)
		}
	}
	p.Stop()
	if err := p.Wait(time.Second); err != nil {
		t.Errorf("ringcopy did not exit cleanly on SIGTERM: %v\n%s", err, p.Output())
	}
}
