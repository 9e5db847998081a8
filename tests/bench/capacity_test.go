package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

func TestCellFiguresRatesAndCosts(t *testing.T) {
	// 2 s of sending, 2.5 s window with the drain; 1,000,000 frames
	// offered, 800,000 delivered; the box CPU 2 s busy, 0.5 s of it in
	// interrupts, the box process 1.1 s; idle share 10 %.
	c := cellFigures("64", 1, 1_000_000, 800_000, 2*time.Second, 2500*time.Millisecond, boxTime{
		busy: 2 * time.Second, irq: 500 * time.Millisecond, process: 1100 * time.Millisecond, baseline: 0.1,
	})
	for _, x := range []struct {
		name      string
		got, want float64
	}{
		{"offered pps", c.offeredPPS, 500_000},
		{"delivered pps", c.deliveredPPS, 400_000},
		{"loss %", c.lossPercent(), 20},
		{"busy share", c.boxBusy, 0.8},
		// (0.5 s + 1.1 s) / 800,000 frames
		{"box ns/frame", c.nsPerFrame, 2000},
		// (2 s - 0.1 × 2.5 s) / 800,000 frames
		{"CPU ns/frame", c.cpuNsPerFrame, 2187.5},
	} {
		if !near(x.got, x.want) {
			t.Errorf("%s = %v, want %v", x.name, x.got, x.want)
		}
	}
}

func TestCellFiguresLeaveOutWhatCannotBeMeasured(t *testing.T) {
	noisy := cellFigures("64", 1, 1000, 1000, time.Second, time.Second, boxTime{busy: time.Second, irq: time.Millisecond, baseline: noisyBaseline + 0.01})
	if noisy.cpuNsPerFrame != 0 {
		t.Errorf("idle CPU %.0f %% busy with other programs: CPU ns/frame = %v, want none", 100*noisy.baselineBusy, noisy.cpuNsPerFrame)
	}
	if noisy.nsPerFrame != 1000 {
		t.Errorf("box ns/frame = %v, want 1000 (irq only, no process)", noisy.nsPerFrame)
	}
	none := cellFigures("64", 1, 1000, 0, time.Second, time.Second, boxTime{busy: time.Second, irq: time.Second})
	if none.nsPerFrame != 0 || none.cpuNsPerFrame != 0 || none.lossPercent() != 100 {
		t.Errorf("nothing delivered: ns/frame %v, CPU ns/frame %v, loss %v; want 0, 0, 100", none.nsPerFrame, none.cpuNsPerFrame, none.lossPercent())
	}
}

func TestMedianCellsTakesTheMedianOfEachFigure(t *testing.T) {
	round := func(delivered, ns float64) []capCell {
		return []capCell{{box: kernelName, size: "64", flows: 1, deliveredPPS: delivered, nsPerFrame: ns}}
	}
	m := medianCells([][]capCell{round(300, 10), round(100, 30), round(200, 20)})
	if len(m) != 1 || m[0].deliveredPPS != 200 || m[0].nsPerFrame != 20 || m[0].box != kernelName {
		t.Fatalf("medians = %+v, want one kernel bridge cell with 200 pps and 20 ns", m)
	}
}

func TestCapacityReportTakesRatiosAgainstTheKernelsSameCell(t *testing.T) {
	cells := []capCell{
		{box: kernelName, size: "64", flows: 1, offeredPPS: 500e3, deliveredPPS: 400e3, nsPerFrame: 2000},
		{box: kernelName, size: "512", flows: 1, offeredPPS: 500e3, deliveredPPS: 100e3, nsPerFrame: 8000},
		{box: "rackwall", size: "64", flows: 1, offeredPPS: 500e3, deliveredPPS: 100e3, nsPerFrame: 8000},
		{box: "rackwall", size: "512", flows: 1, offeredPPS: 500e3, deliveredPPS: 100e3, nsPerFrame: 8000},
	}
	r := &report{capRounds: [][]capCell{cells}, capCells: cells}
	var b bytes.Buffer
	r.printCapacity(&b, options{capDuration: 4 * time.Second})
	rows := map[string][]string{}
	for _, line := range strings.Split(b.String(), "\n") {
		f := strings.Fields(line)
		if len(f) > 3 && f[2] == "rackwall" {
			rows[f[0]] = f
		}
	}
	// Against the same size: 64 bytes carries 0.25 of the kernel's frames
	// at 4x its cost; 512 bytes matches the kernel's.
	for size, want := range map[string][2]string{"64": {"0.25", "4.00"}, "512": {"1.00", "1.00"}} {
		f := rows[size]
		if f == nil {
			t.Fatalf("no rackwall row for %s bytes in:\n%s", size, b.String())
		}
		// The last three fields: x kernel delivered, x kernel box ns, the round ratios.
		got := f[len(f)-3 : len(f)-1]
		if got[0] != want[0] || got[1] != want[1] {
			t.Errorf("%s bytes: ratios %v, want %v\n%s", size, got, want, b.String())
		}
	}
}

func TestTCPRowsSayWhyRackwallCannotCarryOffloads(t *testing.T) {
	r := tcpRow{box: "rackwall", txDrops: 57}
	if why := r.unsupported(); !strings.Contains(why, "needs offloads off") || !strings.Contains(why, "57 dropped on TX") {
		t.Errorf("unsupported() = %q", why)
	}
	if why := (tcpRow{box: "rackwall", bps: 1e9}).unsupported(); why != "" {
		t.Errorf("a clean run: unsupported() = %q, want none", why)
	}
	m := medianTCP([][]tcpRow{
		{{box: "rackwall", bps: 1e9}},
		{{box: "rackwall", failed: "iperf3 failed: boom"}},
		{{box: "rackwall", bps: 2e9}},
	})
	if m[0].failed == "" {
		t.Error("a row that failed in one round lost its failure in the median")
	}
}

func TestCheckCapacityFlags(t *testing.T) {
	ok := options{capacity: "only", capDuration: 4 * time.Second}
	if err := checkCapacityFlags(ok); err != nil {
		t.Errorf("%+v: %v", ok, err)
	}
	for _, o := range []options{
		{capacity: "yes", capDuration: 4 * time.Second},
		{capacity: "true", capDuration: 100 * time.Millisecond},
		{capacity: "false", capDuration: 4 * time.Second, profileDir: "/tmp/x"},
	} {
		if err := checkCapacityFlags(o); err == nil {
			t.Errorf("%+v: want an error", o)
		}
	}
}

func TestTCPReportGivesNoCostForTrafficNotCarried(t *testing.T) {
	rows := []tcpRow{
		{profile: "p", box: kernelName, streams: 1, bps: 10e9, cpuPerGbit: 0.05},
		{profile: "p", box: "rackwall", streams: 1, bps: 1e5, cpuPerGbit: 699, txDrops: 82},
	}
	r := &report{capCells: []capCell{{box: kernelName}}, tcpRounds: [][]tcpRow{rows}, tcpRows: rows}
	var b bytes.Buffer
	r.printCapacity(&b, options{capDuration: 4 * time.Second})
	out := b.String()
	if strings.Contains(out, "699") {
		t.Errorf("a cost per Gbit printed for a run that carried nothing:\n%s", out)
	}
	if !strings.Contains(out, "rackwall: needs offloads off") || !strings.Contains(out, "0.05") {
		t.Errorf("report lacks the reason or the kernel's cost:\n%s", out)
	}
}
