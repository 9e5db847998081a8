package lab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// FloodOptions shape the flood scenario: s3 floods the client with
// fragments that never complete, overlapping fragments and fragments from a
// new IP source every packet (one MAC), while s1 sends legitimate
// fragmented UDP and a TCP stream to the client.
type FloodOptions struct {
	// Phase is the length of each measured phase (baseline, then flood).
	Phase time.Duration
	// UDPRate is iperf3's -b for the fragmented UDP (3000-byte datagrams).
	UDPRate string
	// TCPRate caps the TCP stream (iperf3 -b); "" leaves it unbounded.
	// On a small shared host an unbounded stream competes with the
	// flooders for CPU, which says more about the host than about the box.
	TCPRate string
	// HpingRate is hping3's pacing: "--flood", or "-i", "u100" style args.
	HpingRate []string
	// OverlapPPS limits the scapy overlap flood (0 = as fast as it goes).
	OverlapPPS int
	// ScapyDir holds flood.py; Python is Debian's python3 with scapy.
	ScapyDir string
	Python   string
	// Logf receives progress lines.
	Logf func(format string, args ...any)
}

// FloodResult is one box's numbers.
type FloodResult struct {
	// TCP goodput (bits/s) from s1 to the client without and with the flood.
	TCPBaseline, TCPFlood float64
	// Fragmented UDP: bytes the sender sent and the share that arrived,
	// without and with the flood.
	UDPBaselineShare, UDPFloodShare float64
	UDPFloodSentBytes               int64
	// QuarantineAfter is how long after the flood began the dataplane first
	// reported a quarantined source; negative if it never did (or the box
	// cannot quarantine).
	QuarantineAfter time.Duration
	// PeakRSS of the dataplane in bytes (0 for the kernel).
	PeakRSS int64
	// What the flooders report having sent.
	FloodReport []string
	// Dataplane counters over the flood phase: drops by reason, and frames
	// the kernel dropped because a receive ring was full.
	Drops     map[string]float64
	RingDrops float64
}

// TCPRatio is goodput under flood over goodput without.
func (r FloodResult) TCPRatio() float64 {
	if r.TCPBaseline == 0 {
		return 0
	}
	return r.TCPFlood / r.TCPBaseline
}

const (
	floodTCPPort = 5201
	floodUDPPort = 5202
)

// RunFlood runs the scenario against whatever joins the box now: a phase
// of legitimate traffic alone, then the same traffic under the flood. dp is
// the running dataplane, or nil for a kernel box.
func (l *Lab) RunFlood(opts FloodOptions, dp *Dataplane) (FloodResult, error) {
	var res FloodResult
	if len(l.ServerNS) < 3 {
		return res, errors.New("flood: needs three servers (s1 sends, s3 floods)")
	}
	if opts.Phase == 0 {
		opts.Phase = 10 * time.Second
	}
	if opts.UDPRate == "" {
		opts.UDPRate = "20M"
	}
	if len(opts.HpingRate) == 0 {
		opts.HpingRate = []string{"--flood"}
	}
	if opts.Python == "" {
		opts.Python = "/usr/bin/python3"
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	for _, tool := range []string{"iperf3", "hping3"} {
		if _, err := lookPath(tool); err != nil {
			return res, err
		}
	}
	tcpSrv, err := l.IperfServer(l.ClientNS, floodTCPPort)
	if err != nil {
		return res, err
	}
	defer tcpSrv.Stop()
	udpSrv, err := l.IperfServer(l.ClientNS, floodUDPPort)
	if err != nil {
		return res, err
	}
	defer udpSrv.Stop()

	secs := fmt.Sprintf("%d", int(opts.Phase.Seconds()))
	legit := func() (tcp, udp IperfResult, err error) {
		var wg sync.WaitGroup
		var tcpErr, udpErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			args := []string{ClientV4.String(), "-p", fmt.Sprint(floodTCPPort), "-t", secs}
			if opts.TCPRate != "" {
				args = append(args, "-b", opts.TCPRate)
			}
			tcp, tcpErr = l.Iperf(l.Server(1), args...)
		}()
		go func() {
			defer wg.Done()
			udp, udpErr = l.Iperf(l.Server(1), ClientV4.String(), "-p", fmt.Sprint(floodUDPPort),
				"-u", "-l", "3000", "-b", opts.UDPRate, "-t", secs)
		}()
		wg.Wait()
		return tcp, udp, errors.Join(tcpErr, udpErr)
	}

	logf("flood: baseline phase, %s of TCP and fragmented UDP from s1", opts.Phase)
	tcp, udp, err := legit()
	if err != nil {
		return res, fmt.Errorf("baseline: %w", err)
	}
	res.TCPBaseline = tcp.Received
	res.UDPBaselineShare = share(udp)

	logf("flood: flood phase, s3 floods while s1 sends")
	var before Metrics
	if dp != nil {
		if before, err = dp.Metrics(); err != nil {
			return res, err
		}
	}
	floods, err := l.startFloods(opts)
	if err != nil {
		return res, err
	}
	// The clock starts when every flooder is sending (scapy takes a while
	// to load, and is waited for).
	floodStart := time.Now()
	stopFloods := func() {
		for _, p := range floods {
			// SIGINT first: hping3 prints its totals only then.
			p.Signal(syscall.SIGINT)
			_ = p.Wait(2 * time.Second)
			p.Stop()
			if out := strings.TrimSpace(p.Output()); out != "" {
				res.FloodReport = append(res.FloodReport, p.Name+": "+lastLines(out, 3))
			}
		}
	}
	res.QuarantineAfter = -1
	pollDone := make(chan struct{})
	var pollWG sync.WaitGroup
	if dp != nil {
		pollWG.Add(1)
		go func() {
			defer pollWG.Done()
			for {
				select {
				case <-pollDone:
					return
				case <-time.After(100 * time.Millisecond):
				}
				m, err := dp.Metrics()
				if err == nil && m.Sum("rackwall_quarantined_sources") >= 1 {
					res.QuarantineAfter = time.Since(floodStart)
					return
				}
			}
		}()
	}
	tcp, udp, err = legit()
	stopFloods()
	close(pollDone)
	pollWG.Wait()
	if err != nil {
		return res, fmt.Errorf("flood phase: %w", err)
	}
	res.TCPFlood = tcp.Received
	res.UDPFloodShare = share(udp)
	res.UDPFloodSentBytes = udp.BytesSent
	if dp != nil {
		if res.PeakRSS, err = dp.PeakRSS(); err != nil {
			return res, err
		}
		after, err := dp.Metrics()
		if err != nil {
			return res, err
		}
		res.Drops = map[string]float64{}
		b := before.ByLabel("rackwall_drops_total", "reason")
		for k, v := range after.ByLabel("rackwall_drops_total", "reason") {
			if d := v - b[k]; d != 0 {
				res.Drops[k] = d
			}
		}
		res.RingDrops = after.Sum("rackwall_ring_drops_total") - before.Sum("rackwall_ring_drops_total")
	}
	return res, nil
}

func share(r IperfResult) float64 {
	if r.Packets == 0 {
		return 0
	}
	return float64(r.Packets-r.Lost) / float64(r.Packets)
}

// startFloods starts the three flooders on s3.
func (l *Lab) startFloods(opts FloodOptions) ([]*Proc, error) {
	s3, s3If := l.Server(3), l.ServerIf[2]
	client := ClientV4.String()
	var procs []*Proc
	fail := func(err error) ([]*Proc, error) {
		for _, p := range procs {
			p.Stop()
		}
		return nil, err
	}
	// Overlapping fragments from scapy.
	script := filepath.Join(opts.ScapyDir, "flood.py")
	if _, err := os.Stat(script); err != nil {
		return fail(fmt.Errorf("flood: %w", err))
	}
	over := []string{opts.Python, script, "overlap", "--iface", s3If,
		"--src-mac", l.MAC(s3If).String(), "--dst-mac", l.MAC(l.ClientIf).String(),
		"--src", ServerV4(3).String(), "--dst", client,
		"--duration", fmt.Sprint(opts.Phase.Seconds() + 5)}
	if opts.OverlapPPS > 0 {
		over = append(over, "--pps", fmt.Sprint(opts.OverlapPPS))
	}
	p, err := l.Start(s3, over...)
	if err != nil {
		return fail(err)
	}
	procs = append(procs, p)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.Output(), "ready") {
		if done, err := p.Exited(); done {
			return fail(fmt.Errorf("flood.py exited: %v: %s", err, p.Output()))
		}
		if time.Now().After(deadline) {
			return fail(fmt.Errorf("flood.py not ready after 30 s: %s", p.Output()))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Fragments that never complete: MF set, offset 0, a new IP ID each.
	args := append([]string{"hping3", "-q", "--udp", "-p", "9", "-x", "-d", "1200"}, opts.HpingRate...)
	p, err = l.Start(s3, append(args, client)...)
	if err != nil {
		return fail(err)
	}
	procs = append(procs, p)
	// The same from a new random IP source every packet, one MAC.
	args = append([]string{"hping3", "-q", "--udp", "-p", "9", "-x", "-d", "1200", "--rand-source"}, opts.HpingRate...)
	if p, err = l.Start(s3, append(args, client)...); err != nil {
		return fail(err)
	}
	procs = append(procs, p)
	return procs, nil
}

func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
