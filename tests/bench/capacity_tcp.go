package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// tcpProfile is one setting of the veths' offloads for the TCP part.
type tcpProfile struct {
	name     string
	offloads bool
}

var tcpProfiles = []tcpProfile{
	{"wire (offloads off)", false},
	{"NIC offloads (tx, sg, tso, gso, gro on)", true},
}

var tcpStreams = []int{1, 4}

// capacityIperfPort is the capacity part's own iperf3 server on s1, so the
// part runs the same with or without the throughput part.
const capacityIperfPort = 5202

// tcpRow is one TCP measurement of the capacity part.
type tcpRow struct {
	profile    string
	box        string
	streams    int
	bps        float64 // goodput at s1
	cpuPerGbit float64 // box seconds per Gbit delivered: boxCPU's irq+softirq time plus the box process's
	// What the dataplane could not carry: frames larger than its receive
	// ring held, and frames too large (or too many) for its transmit ring.
	truncated, txDrops float64
	failed             string // the run did not complete: why
}

// unsupported says why a box cannot carry TCP in this profile, or "".
// rackwall's ports read one frame per ring slot and send one per transmit
// slot sized for the MTU: a GSO or GRO super-frame is either cut in the
// receive ring (dropped, counted as truncated) or too large for a
// transmit slot (dropped, counted as a transmit drop).
func (r tcpRow) unsupported() string {
	if r.failed != "" {
		return r.failed
	}
	if r.truncated > 0 || r.txDrops > 0 {
		return fmt.Sprintf("needs offloads off: %.0f super-frames cut in the RX ring, %.0f dropped on TX", r.truncated, r.txDrops)
	}
	return ""
}

func (c *capacityRun) tcpRound() ([]tcpRow, error) {
	l := c.l
	if c.iperf == nil {
		p, err := l.IperfServer(l.Server(1), capacityIperfPort)
		if err != nil {
			return nil, err
		}
		c.iperf = p
	}
	// As in the UDP cells the switch's port is not steered: its receive
	// work (the switch, s1's TCP receive) runs where the box hands it the
	// frames, on boxCPU, for both boxes alike.
	defer l.SetOffloads(false)
	var rows []tcpRow
	for _, prof := range tcpProfiles {
		if err := l.SetOffloads(prof.offloads); err != nil {
			return nil, err
		}
		for _, b := range c.boxes[:2] { // the kernel bridge and rackwall
			stop, pid, err := b.start()
			if err != nil {
				return nil, fmt.Errorf("capacity TCP, %s, %s: %w", prof.name, b.name, err)
			}
			for _, n := range tcpStreams {
				progress("capacity TCP: %s, %s, %d stream(s), %s", prof.name, b.name, n, c.o.capDuration)
				row := c.tcpRun(pid, n)
				row.profile, row.box, row.streams = prof.name, b.name, n
				rows = append(rows, row)
			}
			if err := stop(); err != nil {
				return nil, err
			}
		}
	}
	return rows, nil
}

// tcpRun runs one iperf3 test with both ends on genCPU, so boxCPU holds
// only the box's work.
func (c *capacityRun) tcpRun(pid, streams int) tcpRow {
	var row tcpRow
	dataplane := c.isDataplane(pid)
	var trunc0, tx0 float64
	if dataplane {
		trunc0, tx0 = c.overflow()
	}
	cpu0, err := readCPUTimes(boxCPU)
	if err != nil {
		row.failed = err.Error()
		return row
	}
	proc0, err := processTime(pid)
	if err != nil {
		row.failed = err.Error()
		return row
	}
	secs := strconv.Itoa(max(1, int(c.o.capDuration.Round(time.Second).Seconds())))
	r, err := c.l.Iperf(c.l.ClientNS, lab.ServerV4(1).String(), "-p", strconv.Itoa(capacityIperfPort),
		"-A", fmt.Sprintf("%d,%d", genCPU, genCPU), "-t", secs, "-P", strconv.Itoa(streams))
	cpu1, cerr := readCPUTimes(boxCPU)
	proc1, perr := processTime(pid)
	if dataplane {
		trunc1, tx1 := c.overflow()
		row.truncated, row.txDrops = trunc1-trunc0, tx1-tx0
	}
	if err != nil {
		row.failed = "iperf3 failed: " + err.Error()
		return row
	}
	if err := errors.Join(cerr, perr); err != nil {
		row.failed = err.Error()
		return row
	}
	row.bps = r.Received
	if gbit := float64(r.BytesReceived) * 8 / 1e9; gbit > 0 {
		row.cpuPerGbit = (cpu1.irqSince(cpu0) + proc1 - proc0).Seconds() / gbit
	}
	return row
}

// overflow reads the running dataplane's receive-truncated and transmit
// drop totals.
func (c *capacityRun) overflow() (truncated, tx float64) {
	if c.lastDataplane == nil {
		return 0, 0
	}
	m, err := c.lastDataplane.Metrics()
	if err != nil {
		return 0, 0
	}
	return m.Sum("rackwall_receive_truncated_total"), m.Sum("rackwall_transmit_drops_total")
}
