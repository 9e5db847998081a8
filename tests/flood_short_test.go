package tests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// TestFloodContainment runs the flood scenario (tests/lab/flood.go) for the
// kernel bridge with nftables conntrack and for rackwall in one lab, side
// by side. It always requires that rackwall quarantines the flooder within
// 5 s, delivers more of the legitimate fragmented UDP than the kernel
// does, and keeps its peak RSS within the fragment budget plus 64 MiB. With
// RACKWALL_FLOOD_STRICT=1 it also holds rackwall to the other product
// goals: at least 99 % of the legitimate fragmented bytes delivered and TCP
// goodput under flood at least 0.9× the unflooded. On a shared two-core
// host the flooders and the dataplane compete for the same CPUs, so those
// two numbers say as much about the host as about the box; the benchmark
// prints them every run.
//
// The TCP stream is capped at 200 Mbit/s, which this host carries with
// room to spare, so a drop under flood is the box's doing rather than CPU
// starvation. Phases are 6 s (about 45 s in all); RACKWALL_FLOOD_FULL=1
// runs 12 s phases, as the benchmark does.
func TestFloodContainment(t *testing.T) {
	needScapy(t)
	l := newLab(t, 3, "iperf3", "hping3", "nft")
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := lab.DataplaneBinary(t)
	opts := lab.FloodOptions{
		Phase:     6 * time.Second,
		HpingRate: []string{"--flood"},
		TCPRate:   "200M",
		ScapyDir:  filepath.Join(root, "tests", "scapy"),
		Python:    scapyPython,
		Logf:      t.Logf,
	}
	full := os.Getenv("RACKWALL_FLOOD_FULL") == "1"
	if full {
		opts.Phase = 12 * time.Second
	}

	if err := l.UseKernelConntrack(); err != nil {
		t.Fatal(err)
	}
	kernel, err := l.RunFlood(opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.ResetBox(); err != nil {
		t.Fatal(err)
	}
	dp, err := l.StartDataplane(bin)
	if err != nil {
		t.Fatal(err)
	}
	rw, err := l.RunFlood(opts, dp)
	if err != nil {
		t.Fatalf("%v\ndataplane output:\n%s", err, tail(dp.Output(), 2048))
	}

	t.Logf("%-32s %16s %16s", "", "kernel+conntrack", "rackwall")
	t.Logf("%-32s %15.1f%% %15.1f%%", "fragmented UDP delivered, base", 100*kernel.UDPBaselineShare, 100*rw.UDPBaselineShare)
	t.Logf("%-32s %15.1f%% %15.1f%%", "fragmented UDP delivered, flood", 100*kernel.UDPFloodShare, 100*rw.UDPFloodShare)
	t.Logf("%-32s %11.0f Mb/s %11.0f Mb/s", "TCP goodput, no flood", kernel.TCPBaseline/1e6, rw.TCPBaseline/1e6)
	t.Logf("%-32s %11.0f Mb/s %11.0f Mb/s", "TCP goodput, flood", kernel.TCPFlood/1e6, rw.TCPFlood/1e6)
	t.Logf("%-32s %16.2f %16.2f", "TCP ratio flood/no flood", kernel.TCPRatio(), rw.TCPRatio())
	t.Logf("%-32s %16s %16s", "flooder quarantined after", "-", rw.QuarantineAfter.Round(10*time.Millisecond))
	t.Logf("%-32s %16s %13.1f MiB", "dataplane peak RSS", "-", float64(rw.PeakRSS)/(1<<20))
	t.Logf("rackwall drops during the flood phase: %v; ring drops %.0f", rw.Drops, rw.RingDrops)
	for _, r := range rw.FloodReport {
		t.Logf("flooder (rackwall phase): %s", r)
	}

	// Always: the flooder is contained, and the legitimate traffic fares
	// better behind rackwall than behind the kernel's defragmenting bridge.
	if rw.QuarantineAfter < 0 || rw.QuarantineAfter > 5*time.Second {
		t.Errorf("flooder quarantined after %v, want within 5 s", rw.QuarantineAfter)
	}
	if rw.UDPFloodShare <= kernel.UDPFloodShare {
		t.Errorf("under flood rackwall delivered %.1f%% of the legitimate fragmented UDP, the kernel bridge with conntrack %.1f%%",
			100*rw.UDPFloodShare, 100*kernel.UDPFloodShare)
	}
	// Memory does not depend on how busy the host is: the peak RSS stays
	// within the fragment budget plus 64 MiB on every run.
	const budget = 64<<20 + 64<<20 // default fragment_memory + 64 MiB
	if rw.PeakRSS > budget {
		t.Errorf("dataplane peak RSS %d MiB, want ≤ %d MiB", rw.PeakRSS>>20, budget>>20)
	}
	// The delivery and goodput goals, asserted with RACKWALL_FLOOD_STRICT=1
	// (the benchmark prints them on every run).
	if os.Getenv("RACKWALL_FLOOD_STRICT") != "1" {
		return
	}
	if rw.UDPFloodShare < 0.99 {
		t.Errorf("rackwall delivered %.2f%% of the legitimate fragmented UDP under flood, want ≥ 99%%", 100*rw.UDPFloodShare)
	}
	if rw.TCPRatio() < 0.9 {
		t.Errorf("rackwall TCP goodput under flood is %.2f× the unflooded, want ≥ 0.9×", rw.TCPRatio())
	}
}
