package tests

import (
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// TestDataplaneTwoWorkers runs rackwall-dataplane with --workers 2 (two
// fanout queues per port) on the lab: TCP crosses the box both ways, and a
// host flooding fragments from random IP sources is quarantined by its MAC
// within 5 s and then cut in the kernel: its frames are spread over both
// queues, so the socket filter has to be on every queue's socket.
func TestDataplaneTwoWorkers(t *testing.T) {
	l := newLab(t, 3, "iperf3", "hping3")
	dp := startDataplane(t, l, "--workers", "2")
	if !strings.Contains(dp.Output(), "workers=2") {
		t.Fatalf("the dataplane does not report two workers:\n%s", tail(dp.Output(), 2048))
	}
	if _, err := l.IperfServer(l.ClientNS, 5201); err != nil {
		t.Fatal(err)
	}
	for _, dir := range [][]string{nil, {"-R"}} {
		r, err := l.Iperf(l.Server(1), append([]string{lab.ClientV4.String(), "-t", "2", "-P", "4"}, dir...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("tcp %v, 4 streams: %.0f Mbit/s", dir, r.Received/1e6)
		if r.BytesReceived < 1<<20 {
			t.Errorf("tcp %v: only %d bytes arrived in 2 s", dir, r.BytesReceived)
		}
	}

	// First fragments that never complete, each from a new IP source: the
	// rate limit (F11) makes them violations of the one MAC sending them.
	flood, err := l.Start(l.Server(3), "hping3", "-q", "--udp", "-p", "9", "-x", "-d", "1200", "--rand-source", "--flood", lab.ClientV4.String())
	if err != nil {
		t.Fatal(err)
	}
	defer flood.Stop()
	start := time.Now()
	var quarantinedAfter time.Duration
	var cut float64
	for time.Since(start) < 10*time.Second {
		time.Sleep(100 * time.Millisecond)
		m, err := dp.Metrics()
		if err != nil {
			continue
		}
		if quarantinedAfter == 0 && m.Sum("rackwall_quarantined_sources") >= 1 {
			quarantinedAfter = time.Since(start)
		}
		if cut = m.Sum("rackwall_rx_cut_frames_total"); quarantinedAfter != 0 && cut > 0 {
			break
		}
	}
	if quarantinedAfter == 0 || quarantinedAfter > 5*time.Second {
		t.Fatalf("flooder not quarantined within 5 s (after %v)\n%s", quarantinedAfter, tail(dp.Output(), 2048))
	}
	if cut == 0 {
		t.Fatalf("quarantined after %v, but the kernel filter cut no frames", quarantinedAfter)
	}
	// Every queue's socket carries the filter: a source's frames spread
	// over both queues by their random addresses are all cut, none
	// judged in full. Compare the flood's frames cut in the kernel with
	// those dropped as quarantined over the same second.
	before, err := dp.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	after, err := dp.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	dCut := after.Sum("rackwall_rx_cut_frames_total") - before.Sum("rackwall_rx_cut_frames_total")
	dQuar := after.Sum("rackwall_drops_total", "reason", "quarantined") - before.Sum("rackwall_drops_total", "reason", "quarantined")
	t.Logf("quarantined after %v; over one second %.0f frames cut in the kernel, %.0f dropped as quarantined", quarantinedAfter.Round(10*time.Millisecond), dCut, dQuar)
	if dQuar < 100 {
		t.Fatalf("only %.0f frames dropped as quarantined in a second of flood", dQuar)
	}
	if dCut < 0.95*dQuar {
		t.Errorf("%.0f of %.0f quarantined frames were cut in the kernel: a queue's socket lacks the filter", dCut, dQuar)
	}
	flood.Stop()
	// The honest hosts still get through.
	if out, err := l.Exec(l.Server(1), "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.ClientV4.String()); err != nil {
		t.Errorf("ping after the flood: %v\n%s", err, out)
	}
}
