// Command bench measures rackwall against the Linux kernel bridge in the
// rack lab and prints one plain-text report: TCP throughput, 64-byte UDP
// loss at the rate the kernel bridge carries, and the flood scenario
// (kernel bridge with nftables conntrack versus rackwall). The throughput
// part also measures ringcopy, which moves frames through the dataplane's
// rings with no pipeline, so the report shows how much of the gap to the
// kernel bridge is the I/O and how much the pipeline. It needs root and the
// lab's tools; run it as `go run ./tests/bench` from the repository.
//
// The capacity part (capacity*.go) measures the box alone: a generator on
// one CPU, the box on the other, the far end dropping frames at nftables
// ingress, and the box CPU's time per delivered frame for the kernel
// bridge, rackwall and the ring copy; then TCP with and without NIC-like
// offloads. -capacity=only runs just that part, -capacity=false leaves it
// out, -profile DIR captures a CPU profile of rackwall-dataplane in it.
//
//	go run ./tests/bench [-rules FILE] [-flood=false] [-ring-copy=false] [-rounds 3] [-t 6s] [-phase 12s]
//	                     [-capacity=true|false|only] [-capacity-t 4s] [-profile DIR]
//	go run ./tests/bench -gen-rules 1000 > tests/testdata/rules-1000.rules
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

type options struct {
	rules       string
	rounds      int
	flood       bool
	duration    time.Duration
	phase       time.Duration
	udpRate     string
	tcpRate     string
	hpingRate   string
	overlapPPS  int
	dataplane   string
	ringCopy    bool
	ringCopyBin string // built by run when ringCopy is set
	verbose     bool
	capacity    string        // "true", "false" or "only"
	capDuration time.Duration // length of each capacity cell
	profileDir  string
}

func main() {
	var o options
	genRules := flag.Int("gen-rules", 0, "print a rules file of N rules and exit")
	flag.StringVar(&o.rules, "rules", "", "rules file loaded into rackwall for an extra column")
	flag.BoolVar(&o.flood, "flood", true, "run the flood scenario")
	flag.IntVar(&o.rounds, "rounds", 3, "throughput rounds; each measures every box once and the report gives medians")
	flag.DurationVar(&o.duration, "t", 6*time.Second, "length of each throughput run")
	flag.DurationVar(&o.phase, "phase", 12*time.Second, "length of each flood phase (baseline, flood)")
	flag.StringVar(&o.udpRate, "flood-udp-rate", "20M", "rate of the legitimate fragmented UDP in the flood scenario")
	flag.StringVar(&o.tcpRate, "flood-tcp-rate", "200M", "cap of the TCP stream in the flood scenario (0 = unbounded)")
	flag.StringVar(&o.hpingRate, "flood-hping", "--flood", "hping3 pacing for the flooders (--flood, or e.g. \"-i u100\")")
	flag.IntVar(&o.overlapPPS, "flood-overlap-pps", 0, "frames/s of the overlapping-fragment flood (0 = as fast as it goes)")
	flag.StringVar(&o.dataplane, "dataplane", "", "prebuilt rackwall-dataplane (default: build it)")
	flag.BoolVar(&o.ringCopy, "ring-copy", true, "also measure ringcopy, the dataplane's rings with no pipeline, as the floor of the I/O")
	flag.BoolVar(&o.verbose, "v", false, "log every lab command to stderr")
	flag.StringVar(&o.capacity, "capacity", "true", "run the capacity part (the box alone, pinned to one CPU): true, false, or only")
	flag.DurationVar(&o.capDuration, "capacity-t", 4*time.Second, "length of each capacity cell")
	flag.StringVar(&o.profileDir, "profile", "", "capture a CPU profile of rackwall-dataplane (and perf, if installed) in the capacity part into DIR")
	flag.Parse()

	if o.rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1")
		os.Exit(2)
	}
	if err := checkCapacityFlags(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if *genRules > 0 {
		fmt.Print(generateRules(*genRules))
		return
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func run(o options) error {
	if err := lab.Available(); err != nil {
		return err
	}
	for _, tool := range []string{"iperf3", "hping3", "nft"} {
		if _, err := lookPath(tool); err != nil {
			return err
		}
	}
	root, err := lab.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "rackwall-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := o.dataplane
	if bin == "" {
		progress("building %s", lab.DataplanePackage)
		if bin, err = lab.BuildDataplane(dir); err != nil {
			return err
		}
	}
	if o.ringCopy {
		progress("building %s", lab.RingCopyPackage)
		if o.ringCopyBin, err = lab.BuildCommand(dir, lab.RingCopyPackage); err != nil {
			return err
		}
	}
	if o.rules != "" {
		if o.rules, err = filepath.Abs(o.rules); err != nil {
			return err
		}
		if _, err := os.Stat(o.rules); err != nil {
			return err
		}
	}

	opts := lab.Options{Servers: 3}
	if o.verbose {
		opts.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	l, err := lab.Build(opts)
	if err != nil {
		return err
	}
	defer l.Close()

	started := time.Now()
	rep := &report{}
	if o.capacity != "only" {
		if err := throughput(l, bin, o, rep); err != nil {
			return err
		}
		if o.flood {
			if err := flood(l, bin, o, root, rep); err != nil {
				return err
			}
		}
	}
	if o.capacity != "false" {
		if err := capacity(l, bin, o, rep); err != nil {
			return err
		}
	}
	rep.print(os.Stdout, o, started)
	return nil
}

// ringCopyName is the floor forwarder's column. It is measured last in each
// round, after the boxes whose figures the goals are about.
const ringCopyName = "ring copy"

func lookPath(tool string) (string, error) {
	for _, dir := range strings.Split(os.Getenv("PATH"), ":") {
		p := filepath.Join(dir, tool)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("needs %s: not found on PATH", tool)
}

// column is one box's throughput numbers.
type column struct {
	name       string
	tcp1       float64 // bits/s, one stream
	cpuPerGbit float64 // host CPU seconds per Gbit of the one-stream run
	tcp2       float64 // bits/s, two streams
	udpPPS     float64 // 64-byte frames offered per second
	udpLoss    float64 // percent
	udpGotPS   float64 // frames delivered per second
	rss        int64
	// Where the 64-byte frames were lost: the box's receive rings, its
	// transmit path, and the receiving host's UDP socket buffer.
	lostRing, lostTx, lostRcvbuf float64
	hasBoxCounters               bool
}

type report struct {
	rounds      [][]column // per round, the boxes in order
	cols        []column   // per box, the median over the rounds
	kernelFlood lab.FloodResult
	rwFlood     lab.FloodResult
	flooded     bool
	floodOpts   lab.FloodOptions

	capRounds  [][]capCell // per capacity round, every box's cells in order
	capCells   []capCell   // the medians
	capWorkers bool        // rackwall ran with --workers 1
	tcpRounds  [][]tcpRow
	tcpRows    []tcpRow
	profile    *profileRun
}

// udpPayload makes 64-byte Ethernet frames: 14 Ethernet + 20 IPv4 + 8 UDP
// + 18 payload = 60, plus the 4-byte FCS a wire adds.
const udpPayload = 18

func throughput(l *lab.Lab, bin string, o options, rep *report) error {
	if _, err := l.IperfServer(l.Server(1), 5201); err != nil {
		return err
	}
	for i := range o.rounds {
		progress("throughput round %d of %d", i+1, o.rounds)
		cols, err := throughputRound(l, bin, o)
		if err != nil {
			return err
		}
		rep.rounds = append(rep.rounds, cols)
	}
	rep.cols = medianColumns(rep.rounds)
	return nil
}

// throughputRound measures every box once: the kernel bridge first, then
// rackwall (and rackwall+rules), which are offered the 64-byte UDP rate the
// kernel bridge carried in this same round.
func throughputRound(l *lab.Lab, bin string, o options) ([]column, error) {
	secs := fmt.Sprint(int(o.duration.Seconds()))
	measure := func(name string, dp *lab.Dataplane, rate string) (column, error) {
		c := column{name: name}
		progress("%s: TCP, one stream, %ss", name, secs)
		cpu0 := hostBusyCPU()
		r, err := l.Iperf(l.ClientNS, lab.ServerV4(1).String(), "-t", secs)
		if err != nil {
			return c, err
		}
		c.tcp1 = r.Received
		if gbit := float64(r.BytesReceived) * 8 / 1e9; gbit > 0 {
			c.cpuPerGbit = (hostBusyCPU() - cpu0) / gbit
		}
		progress("%s: TCP, two streams, %ss", name, secs)
		if r, err = l.Iperf(l.ClientNS, lab.ServerV4(1).String(), "-t", secs, "-P", "2"); err != nil {
			return c, err
		}
		c.tcp2 = r.Received
		progress("%s: UDP, 64-byte frames at -b %s, %ss", name, rate, secs)
		ring0, tx0 := boxLosses(dp)
		rcv0 := rcvbufErrors(l, l.Server(1))
		if r, err = l.Iperf(l.ClientNS, lab.ServerV4(1).String(), "-u", "-l", fmt.Sprint(udpPayload), "-b", rate, "-t", secs); err != nil {
			return c, err
		}
		ring1, tx1 := boxLosses(dp)
		c.lostRing, c.lostTx, c.hasBoxCounters = ring1-ring0, tx1-tx0, dp != nil
		c.lostRcvbuf = rcvbufErrors(l, l.Server(1)) - rcv0
		c.udpPPS = float64(r.Packets) / o.duration.Seconds()
		c.udpLoss = r.LostPercent
		c.udpGotPS = float64(r.Packets-r.Lost) / o.duration.Seconds()
		if dp != nil {
			c.rss, _ = dp.PeakRSS()
		}
		return c, nil
	}

	if err := l.UseKernelBridge(); err != nil {
		return nil, err
	}
	k, err := measure("kernel bridge", nil, "0")
	if err != nil {
		return nil, err
	}
	cols := []column{k}
	// Offer rackwall what the kernel bridge carried, in iperf3's terms
	// (payload bits per second).
	rate := fmt.Sprintf("%.0f", k.udpGotPS*udpPayload*8)
	if err := l.ResetBox(); err != nil {
		return nil, err
	}
	runDataplane := func(name string, args ...string) error {
		dp, err := l.StartDataplane(bin, args...)
		if err != nil {
			return err
		}
		c, err := measure(name, dp, rate)
		if err != nil {
			return fmt.Errorf("%w\ndataplane output:\n%s", err, dp.Output())
		}
		cols = append(cols, c)
		return l.ResetBox()
	}
	if err := runDataplane("rackwall"); err != nil {
		return nil, err
	}
	if o.rules != "" {
		if err := runDataplane("rackwall+rules", "--rules", o.rules); err != nil {
			return nil, err
		}
	}
	if o.ringCopyBin != "" {
		p, err := l.StartForwarder(o.ringCopyBin)
		if err != nil {
			return nil, err
		}
		c, err := measure(ringCopyName, nil, rate)
		if err != nil {
			return nil, fmt.Errorf("%w\nring copy output:\n%s", err, p.Output())
		}
		cols = append(cols, c)
		if err := l.ResetBox(); err != nil {
			return nil, err
		}
	}
	return cols, nil
}

// hostBusyCPU is the CPU time, in seconds over all CPUs, the host has spent
// on anything but idling, waiting for I/O or being stolen by a hypervisor.
// The lab's namespaces share the host's CPUs, so the difference across a
// run is what the client, the box and the servers cost together.
func hostBusyCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 8 || f[0] != "cpu" {
		return 0
	}
	var ticks float64
	for _, i := range []int{1, 2, 3, 6, 7} { // user nice system irq softirq
		v, _ := strconv.ParseFloat(f[i], 64)
		ticks += v
	}
	return ticks / clockTicks
}

// clockTicks is USER_HZ, the unit of /proc/stat; 100 on every Linux ABI
// this runs on.
const clockTicks = 100

// boxLosses reads the dataplane's receive-ring and transmit drop totals
// (zero for the kernel bridge, which has no such counters).
func boxLosses(dp *lab.Dataplane) (ring, tx float64) {
	if dp == nil {
		return 0, 0
	}
	m, err := dp.Metrics()
	if err != nil {
		return 0, 0
	}
	return m.Sum("rackwall_ring_drops_total"), m.Sum("rackwall_transmit_drops_total")
}

// rcvbufErrors reads Udp RcvbufErrors of a namespace: datagrams the
// receiving host dropped because its socket buffer was full.
func rcvbufErrors(l *lab.Lab, ns string) float64 {
	out, err := l.Exec(ns, "cat", "/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				v, _ := strconv.ParseFloat(f[i], 64)
				return v
			}
		}
	}
	return 0
}

func flood(l *lab.Lab, bin string, o options, root string, rep *report) error {
	fo := lab.FloodOptions{
		Phase:      o.phase,
		UDPRate:    o.udpRate,
		HpingRate:  strings.Fields(o.hpingRate),
		OverlapPPS: o.overlapPPS,
		ScapyDir:   filepath.Join(root, "tests", "scapy"),
		Logf:       progress,
	}
	if o.tcpRate != "0" {
		fo.TCPRate = o.tcpRate
	}
	rep.floodOpts = fo
	progress("flood: kernel bridge + nftables conntrack")
	if err := l.UseKernelConntrack(); err != nil {
		return err
	}
	var err error
	if rep.kernelFlood, err = l.RunFlood(fo, nil); err != nil {
		return err
	}
	if err := l.ResetBox(); err != nil {
		return err
	}
	progress("flood: rackwall")
	dp, err := l.StartDataplane(bin)
	if err != nil {
		return err
	}
	if rep.rwFlood, err = l.RunFlood(fo, dp); err != nil {
		return fmt.Errorf("%w\ndataplane output:\n%s", err, dp.Output())
	}
	rep.flooded = true
	return l.ResetBox()
}

func hostInfo() string {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("host %s, kernel %s, %d CPUs (%s), %s, load %s",
		host, strings.TrimSpace(string(kernel)), runtime.NumCPU(), model, runtime.Version(),
		strings.Join(strings.Fields(string(load))[:3], " "))
}
