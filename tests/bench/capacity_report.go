package main

import (
	"fmt"
	"io"
	"strings"
)

// figures are the cell's measured values, the ones medianRounds takes the
// median of.
func (c *capCell) figures() []*float64 {
	return []*float64{&c.offeredPPS, &c.deliveredPPS, &c.boxBusy, &c.nsPerFrame, &c.cpuNsPerFrame, &c.baselineBusy, &c.lostBehindPPS, &c.lostRingPPS, &c.lostTxPPS}
}

// medianCells reduces the capacity rounds to one cell per box, size and
// flow count.
func medianCells(rounds [][]capCell) []capCell {
	return medianRounds(rounds, (*capCell).figures, func(cs []capCell) capCell {
		return capCell{box: cs[0].box, size: cs[0].size, flows: cs[0].flows, hasBoxCounters: cs[0].hasBoxCounters}
	})
}

// figures are the row's measured values, the ones medianRounds takes the
// median of.
func (r *tcpRow) figures() []*float64 {
	return []*float64{&r.bps, &r.cpuPerGbit, &r.truncated, &r.txDrops}
}

// medianTCP does the same for the TCP rows. A row that failed in any
// round keeps the failure, so a median never hides that a box could not
// carry the traffic; the counters of what it dropped are the medians.
func medianTCP(rounds [][]tcpRow) []tcpRow {
	return medianRounds(rounds, (*tcpRow).figures, func(rs []tcpRow) tcpRow {
		r := tcpRow{profile: rs[0].profile, box: rs[0].box, streams: rs[0].streams}
		for _, x := range rs {
			if x.failed != "" {
				r.failed = x.failed
			}
		}
		return r
	})
}

// kernelCell finds the kernel bridge's cell of the same size and flow
// count, the reference every ratio is taken against.
func kernelCell(cells []capCell, c capCell) (capCell, bool) {
	for _, k := range cells {
		if k.box == kernelName && k.size == c.size && k.flows == c.flows {
			return k, true
		}
	}
	return capCell{}, false
}

// cellRoundRatios is, round by round, a figure of cell i over the kernel
// bridge's figure in the same round.
func cellRoundRatios(rounds [][]capCell, i int, v func(capCell) float64) []float64 {
	var out []float64
	for _, r := range rounds {
		if i >= len(r) {
			continue
		}
		if k, ok := kernelCell(r, r[i]); ok && v(k) > 0 {
			out = append(out, v(r[i])/v(k))
		}
	}
	return out
}

func joinRatios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, " ")
}

func kpps(pps float64) string { return fmt.Sprintf("%.1f", pps/1e3) }

func (r *report) printCapacity(w io.Writer, o options) {
	if len(r.capCells) == 0 {
		return
	}
	workers := ""
	if r.capWorkers {
		workers = ", rackwall with --workers 1"
	}
	fmt.Fprintf(w, "capacity: the box alone. The lab's sendmmsg blaster on CPU %d sends UDP into the uplink port; the port behind the\n", genCPU)
	fmt.Fprintf(w, "  box drops and counts at nftables netdev ingress, in the box's transmit call. The box's ports steer their receive\n")
	fmt.Fprintf(w, "  work to CPU %d (RPS), where the box runs (nice -20%s). Each cell %s; medians over %d rounds.\n", boxCPU, workers, o.capDuration, len(r.capRounds))
	fmt.Fprintf(w, "  offered: frames the generator put on the link; delivered: frames counted at the sink; RX ring, TX: rackwall's own\n")
	fmt.Fprintf(w, "  drop counters (receive rings full; transmit ring full or link down); behind: frames the box sent\n")
	fmt.Fprintf(w, "  that the sink's port refused (lost behind the box, counted in loss); CPU%d busy: its busy share\n", boxCPU)
	fmt.Fprintf(w, "  (user+nice+system+irq+softirq in /proc/stat), idle: the same with the box idle; box ns: CPU%d's irq+softirq time plus\n", boxCPU)
	fmt.Fprintf(w, "  the box process's time, per delivered frame; CPU ns: CPU%d's busy time less the idle share, per delivered frame\n", boxCPU)
	fmt.Fprintf(w, "  (\"-\" when other programs kept the idle CPU over %.0f %% busy); x kernel: against the kernel bridge's same cell.\n", 100*noisyBaseline)
	fmt.Fprintf(w, "%-5s %5s  %-14s %9s %9s %6s %7s %7s %7s %5s %5s %7s %7s %9s %8s  %s\n",
		"bytes", "flows", "box", "offered", "delivered", "loss", "RX ring", "TX", "behind", "CPU"+fmt.Sprint(boxCPU), "idle", "box", "CPU", "x kernel", "x kernel", "box ns x kernel")
	fmt.Fprintf(w, "%-5s %5s  %-14s %9s %9s %6s %7s %7s %7s %5s %5s %7s %7s %9s %8s  %s\n",
		"", "", "", "kpps", "kpps", "", "kpps", "kpps", "kpps", "busy", "busy", "ns", "ns", "delivered", "box ns", "in each round")
	nsText := func(v float64) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf("%.0f", v)
	}
	for i, c := range r.capCells {
		dr, nr := "-", "-"
		if k, ok := kernelCell(r.capCells, c); ok {
			dr, nr = ratio(c.deliveredPPS, k.deliveredPPS), ratio(c.nsPerFrame, k.nsPerFrame)
		}
		ring, tx := "-", "-"
		if c.hasBoxCounters {
			ring, tx = kpps(c.lostRingPPS), kpps(c.lostTxPPS)
		}
		fmt.Fprintf(w, "%-5s %5d  %-14s %9s %9s %5.1f%% %7s %7s %7s %4.0f%% %4.0f%% %7s %7s %9s %8s  %s\n",
			c.size, c.flows, c.box, kpps(c.offeredPPS), kpps(c.deliveredPPS), c.lossPercent(), ring, tx, kpps(c.lostBehindPPS),
			100*c.boxBusy, 100*c.baselineBusy, nsText(c.nsPerFrame), nsText(c.cpuNsPerFrame), dr, nr,
			joinRatios(cellRoundRatios(r.capRounds, i, func(c capCell) float64 { return c.nsPerFrame })))
	}
	fmt.Fprintln(w)

	if len(r.tcpRows) == 0 {
		return
	}
	fmt.Fprintf(w, "capacity TCP: iperf3 client and server on CPU %d (-A), the box on CPU %d (the switch and s1's receive run there too,\n", genCPU, boxCPU)
	fmt.Fprintf(w, "  in the box's transmit); %s each; medians over %d rounds; box s/Gbit: CPU%d irq+softirq plus the box process\n", o.capDuration, len(r.tcpRounds), boxCPU)
	fmt.Fprintf(w, "%-40s %-14s %7s %14s %9s %15s  %s\n", "profile", "box", "streams", "goodput", "x kernel", "box s/Gbit", "")
	for _, t := range r.tcpRows {
		k, kok := tcpKernelRow(r.tcpRows, t)
		note := ""
		if why := t.unsupported(); why != "" {
			note = t.box + ": " + why
		}
		good, x, cpu := "-", "-", "-"
		if t.failed == "" {
			good = mbps(t.bps)
			if kok {
				x = ratio(t.bps, k.bps)
			}
		}
		if note == "" {
			// A box that could not carry the traffic spent its time on
			// next to nothing: a cost per Gbit would only mislead.
			cpu = fmt.Sprintf("%.2f", t.cpuPerGbit)
		}
		fmt.Fprintf(w, "%-40s %-14s %7d %14s %9s %15s  %s\n", t.profile, t.box, t.streams, good, x, cpu, note)
	}
	fmt.Fprintln(w)
}

func tcpKernelRow(rows []tcpRow, t tcpRow) (tcpRow, bool) {
	for _, k := range rows {
		if k.box == kernelName && k.profile == t.profile && k.streams == t.streams && k.failed == "" {
			return k, true
		}
	}
	return tcpRow{}, false
}
