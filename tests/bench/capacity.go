package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// The capacity part measures the box alone. The two CPUs of the machine are
// split: the generator runs on genCPU; the box's ports hand their receive
// work to boxCPU through receive packet steering, as a NIC's interrupt
// would, and the box runs there too. Behind the box an nftables ingress
// hook drops every frame, so no receiving host's stack runs: what boxCPU
// spends per delivered frame is the box's cost plus that one hook.
const (
	genCPU = 0
	boxCPU = 1
)

// capacitySize is one frame size of the capacity part.
type capacitySize struct {
	label    string // as the report names it
	frameLen int    // Ethernet frame on the veth, without the FCS a wire adds
}

// 64 and 512 are Ethernet frame sizes with their FCS; 1500 is a full-MTU
// IP packet (a 1514-byte frame, 1518 with FCS).
var capacitySizes = []capacitySize{{"64", 60}, {"512", 508}, {"1500", 1514}}

var capacityFlows = []int{1, 1000}

// capacityPort is the UDP destination port of the generated frames; the
// sink counts only these.
const capacityPort = 7777

// capCell is one measurement: one box, one frame size, one flow count.
type capCell struct {
	box          string
	size         string
	flows        int
	offeredPPS   float64 // frames the generator put on the uplink per second
	deliveredPPS float64 // frames that reached the sink per second
	boxBusy      float64 // share of boxCPU busy during the run (/proc/stat)
	baselineBusy float64 // share of boxCPU busy with the box up and no traffic
	// cpuNsPerFrame is boxCPU's busy time less the idle box's share, per
	// delivered frame; 0 when that share is too large to subtract.
	cpuNsPerFrame float64
	// nsPerFrame is the box's own time per delivered frame: boxCPU's
	// interrupt and softirq time (the ports' receive work; all of the
	// kernel bridge) plus the box process's user and system time.
	nsPerFrame float64
	// lostBehindPPS is frames per second the box sent that the sink's
	// port refused (its backlog full): lost behind the box, not in it.
	lostBehindPPS float64
	// rackwall's own loss counters per second: its receive rings full,
	// its transmit path (ring full, link down, frame too large).
	lostRingPPS, lostTxPPS float64
	hasBoxCounters         bool
}

func (c capCell) lossPercent() float64 {
	if c.offeredPPS <= 0 {
		return 0
	}
	return 100 * max(0, c.offeredPPS-c.deliveredPPS) / c.offeredPPS
}

// capBox is one of the boxes the capacity part compares.
type capBox struct {
	name string
	// start joins the ports; pid is the box's process, 0 for the kernel
	// bridge, which has none.
	start func() (stop func() error, pid int, err error)
}

// capacityRun holds what the capacity part needs across rounds.
type capacityRun struct {
	l         *lab.Lab
	o         options
	boxes     []capBox
	workers   bool // the dataplane has --workers
	cpuprof   bool // the dataplane has --cpuprofile
	dataplane string
	pinned    map[string]string // binary → wrapper that runs it on boxCPU
	// lastDataplane is the dataplane startDataplane started last, for
	// its counters.
	lastDataplane *lab.Dataplane
	iperf         *lab.Proc // the TCP part's iperf3 server
}

func capacity(l *lab.Lab, bin string, o options, rep *report) error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("capacity part needs taskset (util-linux): %w", err)
	}
	if n := runtime.NumCPU(); n < 2 {
		return fmt.Errorf("capacity part needs 2 CPUs (generator and box), this host has %d", n)
	}
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	c := &capacityRun{
		l: l, o: o, dataplane: bin, pinned: map[string]string{},
		workers: strings.Contains(string(help), "-workers"),
		cpuprof: strings.Contains(string(help), "-cpuprofile"),
	}
	rep.capWorkers = c.workers
	c.boxes = []capBox{
		{kernelName, c.startKernel},
		{"rackwall", func() (func() error, int, error) { return c.startDataplane(nil) }},
	}
	if o.ringCopyBin != "" {
		c.boxes = append(c.boxes, capBox{ringCopyName, c.startRingCopy})
	}
	unpin, err := pinProcess(genCPU)
	if err != nil {
		return err
	}
	defer unpin()
	if err := c.steer(true); err != nil {
		return err
	}
	defer c.steer(false)

	for i := range o.rounds {
		progress("capacity round %d of %d", i+1, o.rounds)
		var round []capCell
		for _, b := range c.boxes {
			cells, err := c.measureBox(b)
			if err != nil {
				return fmt.Errorf("capacity, %s: %w", b.name, err)
			}
			round = append(round, cells...)
		}
		rep.capRounds = append(rep.capRounds, round)
	}
	rep.capCells = medianCells(rep.capRounds)

	for i := range o.rounds {
		progress("capacity TCP round %d of %d", i+1, o.rounds)
		round, err := c.tcpRound()
		if err != nil {
			return err
		}
		rep.tcpRounds = append(rep.tcpRounds, round)
	}
	rep.tcpRows = medianTCP(rep.tcpRounds)

	if o.profileDir != "" {
		if err := c.profile(rep); err != nil {
			return fmt.Errorf("profile: %w", err)
		}
	}
	return nil
}

const kernelName = "kernel bridge"

// steer points the receive work of the box's ports at boxCPU, or (on
// false) turns steering off again.
//
// The sink's port is left alone: its ingress hook runs where the box
// hands it a frame, on boxCPU, for every box alike. Steered to genCPU,
// each frame rackwall sends would keep its transmit ring slot until that
// CPU got to it (a veth hands the sender's buffer on to the receiver);
// the ring then fills and rackwall drops nearly everything on transmit,
// which says more about the lab than about the box.
func (c *capacityRun) steer(on bool) error {
	l := c.l
	for _, port := range []lab.Port{{NS: l.BoxNS, If: l.UplinkPort}, {NS: l.BoxNS, If: l.RackPort}} {
		var err error
		if on {
			err = l.SetRPS(port, boxCPU)
		} else {
			err = l.SetRPS(port)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (c *capacityRun) startKernel() (func() error, int, error) {
	if err := c.l.UseKernelBridge(); err != nil {
		return nil, 0, err
	}
	return c.l.ResetBox, 0, nil
}

// startDataplane runs rackwall-dataplane on boxCPU, with one packet worker
// when the dataplane has the choice: the box has one CPU here.
func (c *capacityRun) startDataplane(extra []string) (func() error, int, error) {
	wrapper, err := c.pinnedBinary(c.dataplane)
	if err != nil {
		return nil, 0, err
	}
	var args []string
	if c.workers {
		args = append(args, "--workers", "1")
	}
	dp, err := c.l.StartDataplane(wrapper, append(args, extra...)...)
	if err != nil {
		return nil, 0, err
	}
	c.lastDataplane = dp
	return c.l.ResetBox, dp.PID(), nil
}

func (c *capacityRun) startRingCopy() (func() error, int, error) {
	wrapper, err := c.pinnedBinary(c.o.ringCopyBin)
	if err != nil {
		return nil, 0, err
	}
	p, err := c.l.StartForwarder(wrapper)
	if err != nil {
		return nil, 0, err
	}
	return c.l.ResetBox, p.PID(), nil
}

// pinnedBinary writes a script that runs bin on boxCPU with the arguments
// it is given, at the highest priority (nice -20): other programs on this
// machine may use boxCPU too, and a box has its CPU to itself. It execs,
// so the process the lab starts, stops and reads /proc of is bin itself,
// and every thread bin ever makes inherits the CPU and the priority.
func (c *capacityRun) pinnedBinary(bin string) (string, error) {
	if w, ok := c.pinned[bin]; ok {
		return w, nil
	}
	w := filepath.Join(c.l.WorkDir(), "pinned-"+filepath.Base(bin))
	script := fmt.Sprintf("#!/bin/sh\nexec nice -n -20 taskset -c %d %q \"$@\"\n", boxCPU, bin)
	if err := os.WriteFile(w, []byte(script), 0o755); err != nil {
		return "", err
	}
	c.pinned[bin] = w
	return w, nil
}

// baselineWindow is how long the idle box's CPU use is measured before
// its cells.
const baselineWindow = 2 * time.Second

// measureBox starts a box, measures boxCPU with it idle, then runs every
// frame size and flow count through it.
func (c *capacityRun) measureBox(b capBox) ([]capCell, error) {
	stop, pid, err := b.start()
	if err != nil {
		return nil, err
	}
	defer stop()
	s, err := installSink(c.l, lab.ServerV4(1), capacityPort)
	if err != nil {
		return nil, err
	}
	defer s.remove()
	baseline, err := busyShare(baselineWindow)
	if err != nil {
		return nil, err
	}
	var cells []capCell
	for _, size := range capacitySizes {
		for _, flows := range capacityFlows {
			progress("capacity: %s, %s bytes, %d flow(s), %s", b.name, size.label, flows, c.o.capDuration)
			cell, err := c.measureCell(s, size, flows, baseline, pid)
			if err != nil {
				return nil, err
			}
			cell.box = b.name
			cells = append(cells, cell)
		}
	}
	return cells, nil
}

// busyShare is the share of boxCPU that is busy over d.
func busyShare(d time.Duration) (float64, error) {
	c0, err := readCPUTimes(boxCPU)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	time.Sleep(d)
	c1, err := readCPUTimes(boxCPU)
	if err != nil {
		return 0, err
	}
	return float64(c1.busySince(c0)) / float64(time.Since(t0)), nil
}

// drainTime lets frames still in the box's rings reach the sink before
// the counters are read.
const drainTime = 300 * time.Millisecond

func (c *capacityRun) measureCell(s *sink, size capacitySize, flows int, baseline float64, pid int) (capCell, error) {
	l := c.l
	frames, err := lab.UDPFlows{
		DstMAC: l.MAC(l.ServerIf[0]), SrcMAC: l.MAC(l.ClientIf),
		Src: lab.ClientV4, Dst: lab.ServerV4(1), DstPort: capacityPort,
		FirstSrcPort: 20000, Flows: flows, FrameLen: size.frameLen,
	}.Frames()
	if err != nil {
		return capCell{}, err
	}
	client := lab.Port{NS: l.ClientNS, If: l.ClientIf}
	rack := lab.Port{NS: l.BoxNS, If: l.RackPort}
	offered0, err := c.offered(client)
	if err != nil {
		return capCell{}, err
	}
	behind0, err := l.LinkCounter(rack, "tx_dropped")
	if err != nil {
		return capCell{}, err
	}
	got0, err := s.frames()
	if err != nil {
		return capCell{}, err
	}
	cpu0, err := readCPUTimes(boxCPU)
	if err != nil {
		return capCell{}, err
	}
	proc0, err := processTime(pid)
	if err != nil {
		return capCell{}, err
	}
	ring0, tx0 := c.boxLosses(pid)
	b, err := lab.NewBlaster(lab.BlastSender{Port: client, Frames: frames})
	if err != nil {
		return capCell{}, err
	}
	defer b.Close()
	t0 := time.Now()
	b.Start()
	time.Sleep(c.o.capDuration)
	b.Stop()
	sent := time.Since(t0)
	time.Sleep(drainTime)
	cpu1, err := readCPUTimes(boxCPU)
	if err != nil {
		return capCell{}, err
	}
	proc1, err := processTime(pid)
	if err != nil {
		return capCell{}, err
	}
	window := time.Since(t0)
	offered1, err := c.offered(client)
	if err != nil {
		return capCell{}, err
	}
	got1, err := s.frames()
	if err != nil {
		return capCell{}, err
	}
	behind1, err := l.LinkCounter(rack, "tx_dropped")
	if err != nil {
		return capCell{}, err
	}
	if offered1 <= offered0 {
		return capCell{}, fmt.Errorf("the generator put no frame on %s", client.If)
	}
	cell := cellFigures(size.label, flows, offered1-offered0, got1-got0, sent, window, boxTime{
		busy: cpu1.busySince(cpu0), irq: cpu1.irqSince(cpu0), process: proc1 - proc0, baseline: baseline,
	})
	cell.lostBehindPPS = float64(behind1-behind0) / sent.Seconds()
	if ring1, tx1 := c.boxLosses(pid); c.isDataplane(pid) {
		cell.hasBoxCounters = true
		cell.lostRingPPS = (ring1 - ring0) / sent.Seconds()
		cell.lostTxPPS = (tx1 - tx0) / sent.Seconds()
	}
	return cell, nil
}

// isDataplane reports whether pid is the rackwall-dataplane started last.
func (c *capacityRun) isDataplane(pid int) bool {
	return pid != 0 && c.lastDataplane != nil && c.lastDataplane.PID() == pid
}

// boxLosses reads rackwall's receive-ring and transmit drop totals (zero
// for the other boxes, which have no such counters).
func (c *capacityRun) boxLosses(pid int) (ring, tx float64) {
	if !c.isDataplane(pid) {
		return 0, 0
	}
	m, err := c.lastDataplane.Metrics()
	if err != nil {
		return 0, 0
	}
	return m.Sum("rackwall_ring_drops_total"), m.Sum("rackwall_transmit_drops_total")
}

// processTime is the CPU time of the box's process so far; the kernel
// bridge (pid 0) has no process.
func processTime(pid int) (time.Duration, error) {
	if pid == 0 {
		return 0, nil
	}
	return readProcessTime(pid)
}

// boxTime is what boxCPU spent over one run.
type boxTime struct {
	busy     time.Duration // all of boxCPU's busy time
	irq      time.Duration // boxCPU's interrupt and softirq time
	process  time.Duration // the box process's own user and system time
	baseline float64       // boxCPU's busy share with the box idle
}

// noisyBaseline is the idle box CPU's busy share above which subtracting
// it means nothing: other programs then use that CPU, and they give way
// to the box (nice -20) under load rather than keep their share.
const noisyBaseline = 0.2

// cellFigures turns one run's counters into rates and costs: frames
// offered and delivered over the time the generator ran, and, per
// delivered frame, the box's own time and the box CPU's busy time over
// the whole window (run plus drain) less what the idle box spent over as
// long.
//
// The box's own time may count some softirq work twice: with tick-based
// CPU accounting a tick that finds the box process handling a softirq is
// charged both to the CPU's softirq time and to the process.
func cellFigures(size string, flows int, offered, delivered uint64, sent, window time.Duration, t boxTime) capCell {
	c := capCell{size: size, flows: flows, baselineBusy: t.baseline}
	if sent > 0 {
		c.offeredPPS = float64(offered) / sent.Seconds()
		c.deliveredPPS = float64(delivered) / sent.Seconds()
	}
	if window > 0 {
		c.boxBusy = float64(t.busy) / float64(window)
	}
	if delivered == 0 {
		return c
	}
	c.nsPerFrame = float64(t.irq+t.process) / float64(delivered)
	if t.baseline < noisyBaseline {
		c.cpuNsPerFrame = max(0, float64(t.busy)-t.baseline*float64(window)) / float64(delivered)
	}
	return c
}

// offered counts the frames the generator's interface put on the link:
// those the box's port took, and those its receive backlog refused (a
// veth counts the latter as drops on the sending side, where a NIC would
// count missed frames on the receiving one).
func (c *capacityRun) offered(client lab.Port) (uint64, error) {
	tx, err := c.l.LinkCounter(client, "tx_packets")
	if err != nil {
		return 0, err
	}
	dropped, err := c.l.LinkCounter(client, "tx_dropped")
	if err != nil {
		return 0, err
	}
	return tx + dropped, nil
}

// checkCapacityFlags refuses a -capacity value other than true, false or
// only, and a cell too short to measure.
func checkCapacityFlags(o options) error {
	switch o.capacity {
	case "true", "false", "only":
	default:
		return fmt.Errorf("-capacity %q: want true, false or only", o.capacity)
	}
	if o.capDuration < time.Second {
		return fmt.Errorf("-capacity-t %s: want at least 1s", o.capDuration)
	}
	if o.profileDir != "" && o.capacity == "false" {
		return fmt.Errorf("-profile needs the capacity part (-capacity=true or only)")
	}
	return nil
}
