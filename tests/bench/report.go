package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

func mbps(bps float64) string { return fmt.Sprintf("%.0f Mbit/s", bps/1e6) }

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func pass(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}

// roundRow prints, under a throughput row, each rackwall column's ratio to
// the kernel bridge round by round, so the spread behind a median shows.
func (r *report) roundRow(w io.Writer, label string, v func(column) float64) {
	fmt.Fprintf(w, "%-34s", label)
	for range r.cols {
		fmt.Fprintf(w, " %16s", "")
	}
	for b := 1; b < len(r.cols); b++ {
		var parts []string
		for _, x := range roundRatios(r.rounds, b, v) {
			parts = append(parts, fmt.Sprintf("%.2f", x))
		}
		fmt.Fprintf(w, " %16s", strings.Join(parts, " "))
	}
	fmt.Fprintln(w)
}

func (r *report) print(w io.Writer, o options, started time.Time) {
	fmt.Fprintf(w, "rackwall benchmark, %s (took %s)\n", started.UTC().Format("2006-01-02 15:04:05 MST"), time.Since(started).Round(time.Second))
	fmt.Fprintf(w, "%s\n", hostInfo())
	if len(r.rounds) > 0 {
		fmt.Fprintf(w, "rack lab: veth pairs, offloads off; client -> box -> switch -> s1; each run %s\n", o.duration)
		fmt.Fprintf(w, "throughput: %d rounds, each measuring every box once in turn; figures are medians over the rounds\n", len(r.rounds))
	}
	if o.rules != "" {
		fmt.Fprintf(w, "rules for rackwall+rules: %s\n", o.rules)
	}
	fmt.Fprintln(w)

	if len(r.cols) > 0 {
		k := r.cols[0]
		fmt.Fprintf(w, "%-34s", "throughput (client -> s1)")
		for _, c := range r.cols {
			fmt.Fprintf(w, " %16s", c.name)
		}
		for _, c := range r.cols[1:] {
			fmt.Fprintf(w, " %16s", "ratio "+strings.TrimPrefix(c.name, "rackwall"))
		}
		fmt.Fprintln(w)
		row := func(label string, val func(column) string, ratioOf func(column) float64) {
			fmt.Fprintf(w, "%-34s", label)
			for _, c := range r.cols {
				fmt.Fprintf(w, " %16s", val(c))
			}
			if ratioOf != nil {
				for _, c := range r.cols[1:] {
					fmt.Fprintf(w, " %16s", ratio(ratioOf(c), ratioOf(k)))
				}
			}
			fmt.Fprintln(w)
		}
		tcp1 := func(c column) float64 { return c.tcp1 }
		tcp2 := func(c column) float64 { return c.tcp2 }
		row("TCP, 1 stream", func(c column) string { return mbps(c.tcp1) }, tcp1)
		r.roundRow(w, "  ratio in each round", tcp1)
		row("TCP, 2 streams", func(c column) string { return mbps(c.tcp2) }, tcp2)
		r.roundRow(w, "  ratio in each round", tcp2)
		row("host CPU s per Gbit, TCP 1 stream", func(c column) string { return fmt.Sprintf("%.2f", c.cpuPerGbit) },
			func(c column) float64 { return c.cpuPerGbit })
		row("UDP 64-byte frames offered", func(c column) string { return fmt.Sprintf("%.0f pps", c.udpPPS) }, nil)
		row("UDP 64-byte frames lost", func(c column) string { return fmt.Sprintf("%.2f %%", c.udpLoss) }, nil)
		row("UDP 64-byte frames delivered", func(c column) string { return fmt.Sprintf("%.0f pps", c.udpGotPS) },
			func(c column) float64 { return c.udpGotPS })
		// The kernel bridge has no such counters.
		boxCount := func(v func(column) float64) func(column) string {
			return func(c column) string {
				if !c.hasBoxCounters {
					return "-"
				}
				return fmt.Sprintf("%.0f", v(c))
			}
		}
		row("  lost in the box's RX rings", boxCount(func(c column) float64 { return c.lostRing }), nil)
		row("  lost in the box's TX path", boxCount(func(c column) float64 { return c.lostTx }), nil)
		row("  lost in s1's socket buffer", func(c column) string { return fmt.Sprintf("%.0f", c.lostRcvbuf) }, nil)
		row("dataplane peak RSS", func(c column) string {
			if c.rss == 0 {
				return "-"
			}
			return fmt.Sprintf("%.1f MiB", float64(c.rss)/(1<<20))
		}, nil)
		fmt.Fprintln(w, "(the kernel bridge gets UDP at -b 0, as fast as one iperf3 sends; in each round rackwall is offered the pps")
		fmt.Fprintln(w, " the kernel delivered in that round. Host CPU counts every namespace: client, box and servers share the CPUs.)")
		if slices.ContainsFunc(r.cols, func(c column) bool { return c.name == ringCopyName }) {
			fmt.Fprintln(w, "(ring copy moves frames through the dataplane's own rings and transmit path with no parsing and no policy:")
			fmt.Fprintln(w, " what any forwarder on these rings costs. It is not a firewall, and has no goals.)")
		}
		for _, c := range r.cols[1:] {
			if c.name == ringCopyName {
				continue
			}
			fmt.Fprintf(w, "%s goals: TCP >= 0.9x the kernel bridge %s (1 stream %s, 2 streams %s); 64-byte loss <= the kernel bridge's %s\n",
				c.name, pass(c.tcp1 >= 0.9*k.tcp1 && c.tcp2 >= 0.9*k.tcp2), ratio(c.tcp1, k.tcp1), ratio(c.tcp2, k.tcp2),
				pass(c.udpLoss <= k.udpLoss))
		}
		fmt.Fprintln(w)
	}

	if r.flooded {
		k, x := r.kernelFlood, r.rwFlood
		fo := r.floodOpts
		tcpRate := fo.TCPRate
		if tcpRate == "" {
			tcpRate = "unbounded"
		}
		fmt.Fprintf(w, "flood: s3 floods the client (hping3 %s -x never-completed fragments; the same with --rand-source;\n", strings.Join(fo.HpingRate, " "))
		fmt.Fprintf(w, "       overlapping fragments from scapy) while s1 sends 3000-byte UDP at %s and TCP (%s); phases of %s\n", fo.UDPRate, tcpRate, fo.Phase)
		fmt.Fprintf(w, "%-40s %18s %18s %10s\n", "", "kernel+conntrack", "rackwall", "goal")
		fmt.Fprintf(w, "%-40s %17.2f%% %17.2f%% %10s\n", "fragmented UDP delivered, no flood", 100*k.UDPBaselineShare, 100*x.UDPBaselineShare, "")
		fmt.Fprintf(w, "%-40s %17.2f%% %17.2f%% %10s\n", "fragmented UDP delivered, flood", 100*k.UDPFloodShare, 100*x.UDPFloodShare, ">= 99%")
		fmt.Fprintf(w, "%-40s %18s %18s %10s\n", "TCP goodput, no flood", mbps(k.TCPBaseline), mbps(x.TCPBaseline), "")
		fmt.Fprintf(w, "%-40s %18s %18s %10s\n", "TCP goodput, flood", mbps(k.TCPFlood), mbps(x.TCPFlood), "")
		fmt.Fprintf(w, "%-40s %18.2f %18.2f %10s\n", "TCP goodput ratio flood / no flood", k.TCPRatio(), x.TCPRatio(), ">= 0.9")
		q := "never"
		if x.QuarantineAfter >= 0 {
			q = fmt.Sprintf("%.1f s", x.QuarantineAfter.Seconds())
		}
		fmt.Fprintf(w, "%-40s %18s %18s %10s\n", "flooder quarantined after", "(no such thing)", q, "<= 5 s")
		fmt.Fprintf(w, "%-40s %18s %17.1f MiB %10s\n", "dataplane peak RSS (VmHWM)", "-", float64(x.PeakRSS)/(1<<20), "<= 128 MiB")
		fmt.Fprintf(w, "rackwall goals: UDP %s, TCP ratio %s, quarantine %s, memory %s\n",
			pass(x.UDPFloodShare >= 0.99), pass(x.TCPRatio() >= 0.9),
			pass(x.QuarantineAfter >= 0 && x.QuarantineAfter <= 5*time.Second), pass(x.PeakRSS <= 128<<20))
		fmt.Fprintf(w, "  rackwall drops during the flood phase: %v; receive-ring drops: %.0f\n", x.Drops, x.RingDrops)
		for _, f := range x.FloodReport {
			fmt.Fprintf(w, "  flooder during rackwall phase: %s\n", f)
		}
		for _, f := range k.FloodReport {
			fmt.Fprintf(w, "  flooder during kernel phase:   %s\n", f)
		}
		fmt.Fprintln(w)
	}
	r.printCapacity(w, o)
	r.printProfile(w)
}
