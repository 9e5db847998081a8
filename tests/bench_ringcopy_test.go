package tests

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// TestRingCopyForwards checks the benchmark's floor forwarder does what its
// column claims: it carries the rack's TCP both ways through the
// dataplane's rings, on the wire profile and, with --vnet-hdr, with every
// offload on (64 KiB aggregates and all), and stops cleanly on SIGTERM like
// the dataplane.
func TestRingCopyForwards(t *testing.T) {
	for _, c := range []struct {
		name     string
		offloads bool
		args     []string
		minBytes int64 // in one second; aggregates carry far more
	}{
		{"wire", false, nil, 1 << 20},
		{"vnet-hdr", true, []string{"--vnet-hdr"}, 8 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, 1, "ping", "iperf3", "ethtool")
			if err := l.SetOffloads(c.offloads); err != nil {
				t.Fatal(err)
			}
			bin, err := lab.BuildCommand(t.TempDir(), lab.RingCopyPackage)
			if err != nil {
				t.Fatal(err)
			}
			p, err := l.StartForwarder(bin, c.args...) // waits for a ping to cross it
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
				if r.BytesReceived < c.minBytes {
					t.Errorf("tcp %v: only %d bytes arrived in 1 s", dir, r.BytesReceived)
				}
			}
			p.Stop()
			if err := p.Wait(time.Second); err != nil {
				t.Errorf("ringcopy %v did not exit cleanly on SIGTERM: %v\n%s", c.args, err, p.Output())
			}
		})
	}
}

// TestRingCopyAgainstKernelBridge measures one TCP stream (iperf3, 3 s)
// through the kernel bridge, ringcopy --vnet-hdr and rackwall-dataplane --offloads
// with every offload on, and through ringcopy and rackwall-dataplane with
// them off (the wire profile), and logs the table; each must carry the
// stream. Run with -v to read the figures:
//
//	go test ./tests -run TestRingCopyAgainstKernelBridge -count=1 -v
func TestRingCopyAgainstKernelBridge(t *testing.T) {
	l := newLab(t, 1, "ping", "iperf3", "ethtool")
	dir := t.TempDir()
	ring, err := lab.BuildCommand(dir, lab.RingCopyPackage)
	if err != nil {
		t.Fatal(err)
	}
	dataplane := lab.DataplaneBinary(t)
	forwarder := func(bin string, args ...string) func() (stop func(), err error) {
		return func() (func(), error) {
			p, err := l.StartForwarder(bin, args...)
			if err != nil {
				return nil, err
			}
			return func() { p.Stop(); p.Wait(5 * time.Second); l.ResetBox() }, nil
		}
	}
	boxes := []struct {
		name     string
		offloads bool
		start    func() (stop func(), err error)
	}{
		{"kernel bridge", true, func() (func(), error) {
			return func() { l.ResetBox() }, l.UseKernelBridge()
		}},
		{"ringcopy --vnet-hdr", true, forwarder(ring, "--vnet-hdr")},
		{"rackwall --offloads", true, forwarder(dataplane, "--offloads")},
		{"kernel bridge", false, func() (func(), error) {
			return func() { l.ResetBox() }, l.UseKernelBridge()
		}},
		{"ringcopy", false, forwarder(ring)},
		{"rackwall", false, forwarder(dataplane)},
	}
	report := "\n"
	for i, b := range boxes {
		// A server of its own for each box: stopping a box right after
		// its run can cut the end of the iperf3 control exchange, and the
		// server would then refuse the next run as "busy" until it timed
		// out.
		port := 5201 + i
		if _, err := l.IperfServer(l.Server(1), port); err != nil {
			t.Fatal(err)
		}
		if err := l.SetOffloads(b.offloads); err != nil {
			t.Fatal(err)
		}
		stop, err := b.start()
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		r, err := l.Iperf(l.ClientNS, lab.ServerV4(1).String(), "-p", strconv.Itoa(port), "-t", "3")
		stop()
		if err != nil {
			t.Fatalf("%s: %v", b.name, err)
		}
		if r.BytesReceived < 8<<20 {
			t.Errorf("%s, offloads %v: only %d bytes arrived in 3 s", b.name, b.offloads, r.BytesReceived)
		}
		report += fmt.Sprintf("  %-20s offloads %-5v %6.2f Gbit/s\n", b.name, b.offloads, r.Received/1e9)
	}
	t.Log(report)
}
