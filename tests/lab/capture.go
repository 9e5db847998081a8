package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Capture is a tcpdump running on one interface of the lab, writing every
// frame it receives to a pcap file. libpcap puts VLAN tags that the kernel
// moved into packet metadata back into the frame, so captured bytes are the
// bytes that were on the wire.
type Capture struct {
	proc *Proc
	path string
	ns   string
	ifc  string
}

// StartCapture starts tcpdump on ifname in ns, capturing frames received
// there (direction in), and returns once it is listening. filter is an
// optional pcap filter expression.
func (l *Lab) StartCapture(ns, ifname, filter string) (*Capture, error) {
	dir, err := os.MkdirTemp("", "rackwall-capture-")
	if err != nil {
		return nil, err
	}
	l.addCleanup(func() error { return os.RemoveAll(dir) })
	path := filepath.Join(dir, ifname+".pcap")
	args := []string{"tcpdump", "-i", ifname, "-Q", "in", "-n", "-s", "0", "-U",
		"--immediate-mode", "-B", "16384", "-w", path}
	if filter != "" {
		args = append(args, filter)
	}
	p, err := l.Start(ns, args...)
	if err != nil {
		return nil, err
	}
	c := &Capture{proc: p, path: path, ns: ns, ifc: ifname}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "listening on") {
		if done, err := p.Exited(); done {
			return nil, fmt.Errorf("tcpdump on %s exited: %v: %s", ifname, err, p.Output())
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("tcpdump on %s: not listening after 10s: %s", ifname, p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return c, nil
}

var kernelDrops = regexp.MustCompile(`(\d+) packets? dropped by kernel`)

// Stop ends the capture and returns the frames it saw. It fails if the
// kernel dropped frames before tcpdump read them, since a count of what
// left the box would then be wrong.
func (c *Capture) Stop() ([]Packet, error) {
	c.proc.Signal(syscall.SIGINT)
	if err := c.proc.Wait(10 * time.Second); err != nil {
		c.proc.Stop()
		if !strings.Contains(err.Error(), "exit status") {
			return nil, fmt.Errorf("tcpdump on %s: %w", c.ifc, err)
		}
	}
	if m := kernelDrops.FindStringSubmatch(c.proc.Output()); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			return nil, fmt.Errorf("tcpdump on %s: %d frames dropped by kernel", c.ifc, n)
		}
	}
	return ReadPcap(c.path)
}

// Path is the pcap file the capture writes.
func (c *Capture) Path() string { return c.path }

// Replay sends the frames of a pcap file out of ifname in ns with tcpreplay
// and returns how many frames it sent. Without extra arguments the file's
// own timing is kept; pass "-t" for top speed or "--pps=N" for a fixed rate.
func (l *Lab) Replay(ns, ifname, pcap string, extra ...string) (int, error) {
	args := []string{"tcpreplay", "-q", "-i", ifname}
	args = append(args, extra...)
	args = append(args, pcap)
	out, err := l.ExecTimeout(5*time.Minute, ns, args...)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`Successful packets:\s+(\d+)`).FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("tcpreplay: no packet count in %q", out)
	}
	n, _ := strconv.Atoi(string(m[1]))
	if f := regexp.MustCompile(`Failed packets:\s+(\d+)`).FindSubmatch(out); f != nil && string(f[1]) != "0" {
		return n, fmt.Errorf("tcpreplay: %s frames failed: %s", f[1], out)
	}
	return n, nil
}

// Send writes frames out of ifname in ns (through a temporary pcap file and
// tcpreplay at top speed).
func (l *Lab) Send(ns, ifname string, frames [][]byte) error {
	dir, err := os.MkdirTemp("", "rackwall-send-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	pkts := make([]Packet, len(frames))
	for i, f := range frames {
		pkts[i] = Packet{Data: f}
	}
	path := filepath.Join(dir, "send.pcap")
	if err := WritePcap(path, pkts); err != nil {
		return err
	}
	n, err := l.Replay(ns, ifname, path, "-t")
	if err != nil {
		return err
	}
	if n != len(frames) {
		return fmt.Errorf("tcpreplay sent %d of %d frames", n, len(frames))
	}
	return nil
}
