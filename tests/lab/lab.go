// Package lab builds a small rack on one Linux host out of network
// namespaces and veth pairs, so the dataplane can be tested against real
// kernel traffic: a client on the uplink side, a box namespace holding the two
// bridge ports, and servers behind a kernel-bridge switch on the rack side.
//
//	client ──veth── [uplink | box | rack] ──veth── switch(bridge) ──veth── s1, s2, s3
//
// The box is a transparent bridge, so client and servers share one L2
// segment: 10.77.0.0/24 and fd77::/64. Every name carries a random suffix so
// two labs never collide, and everything a lab creates is removed by Close
// (registered with t.Cleanup, and also run on SIGINT/SIGTERM).
//
// What joins the box's two ports is chosen after New: UseKernelBridge (the
// baseline), UseKernelConntrack (kernel bridge plus an nftables conntrack
// table, so the kernel defragments), StartDataplane (rackwall-dataplane as
// a process in the box namespace), or UseTaps (two tap devices wired to the
// ports, for a VM run in the box namespace). ResetBox switches back to
// nothing, so one lab can measure several boxes in turn.
//
// Offloads are off on every veth, so frames look as they would on a wire:
// checksums filled in, no GSO super-frames. Traffic helpers run iperf3
// (Iperf, IperfServer), capture with tcpdump (StartCapture), replay pcaps
// (Replay, Injector) and drive the flood scenario (RunFlood).
package lab

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixed addresses of the lab. The box bridges one segment, so they all share
// a prefix.
var (
	ClientV4 = netip.MustParseAddr("10.77.0.1")
	ClientV6 = netip.MustParseAddr("fd77::1")
)

// ServerV4 returns the IPv4 address of server i (1-based): 10.77.0.2i.
func ServerV4(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 77, 0, byte(20 + i)}) }

// ServerV6 returns the IPv6 address of server i (1-based): fd77::2i.
func ServerV6(i int) netip.Addr {
	return netip.MustParseAddr(fmt.Sprintf("fd77::%d", 20+i))
}

// Options shape a lab. The zero value gives three servers and no logging.
type Options struct {
	// Servers behind the switch (1..9); 0 means 3.
	Servers int
	// Logf, if set, receives every command the lab runs (t.Logf fits).
	Logf func(format string, args ...any)
	// ID forces the name suffix (hex, up to 6 characters); empty picks a random one.
	ID string
	// Persistent makes background processes outlive this program (their
	// output goes to files in WorkDir instead of pipes): for rackwall-lab up,
	// which exits and leaves the lab to a later rackwall-lab down.
	Persistent bool
}

// Mode is what currently joins the box's two ports.
type Mode string

const (
	ModeNone      Mode = "none"      // ports exist, nothing joins them
	ModeKernel    Mode = "kernel"    // a kernel bridge in the box namespace
	ModeConntrack Mode = "conntrack" // kernel bridge plus nftables conntrack (kernel defrag)
	ModeDataplane Mode = "dataplane" // rackwall-dataplane in the box namespace
	ModeTaps      Mode = "taps"      // two tap devices for a VM, wired to the ports
)

// Lab is one running rack. Its exported fields are names a test needs to
// address namespaces and interfaces; they never change after New.
type Lab struct {
	ID string

	// Namespaces.
	ClientNS string
	BoxNS    string
	SwitchNS string
	ServerNS []string // index 0 is s1

	// Interfaces. ClientIf lives in ClientNS; UplinkPort and RackPort in
	// BoxNS; SwitchUplink (the switch's port facing the box) in SwitchNS;
	// ServerIf[i] in ServerNS[i].
	ClientIf     string
	UplinkPort   string
	RackPort     string
	SwitchUplink string
	SwitchBridge string
	ServerIf     []string

	logf func(format string, args ...any)

	mu       sync.Mutex
	mode     Mode
	procs    []*Proc
	closed   bool
	cleanups []func() error
	taps     [2]string
	macs     map[string]net.HardwareAddr

	persistent bool
	workDir    string
	builtAt    time.Time
}

// ErrUnavailable wraps the reason a lab cannot be built on this host (not
// root, a tool missing). Tests skip on it.
var ErrUnavailable = errors.New("needs root and ip/ethtool")

// Available reports whether this host can build a lab: root, and the ip,
// ethtool and tc commands.
func Available() error {
	if !isRoot() {
		return fmt.Errorf("%w: not running as root", ErrUnavailable)
	}
	for _, tool := range []string{"ip", "ethtool", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%w: %s not found", ErrUnavailable, tool)
		}
	}
	return nil
}

// RequireTools skips the test unless every named command is on PATH.
func RequireTools(tb testing.TB, tools ...string) {
	tb.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			tb.Skipf("needs %s: not found on PATH", tool)
		}
	}
}

// New builds a lab with default options for a test: it skips the test with
// one line when the host cannot run a lab, and registers Close with
// tb.Cleanup so the lab goes away even when the test fails.
func New(tb testing.TB) (*Lab, error) {
	return NewFor(tb, Options{})
}

// NewFor is New with options. Logf defaults to tb.Logf.
func NewFor(tb testing.TB, opts Options) (*Lab, error) {
	tb.Helper()
	if err := Available(); err != nil {
		tb.Skip(err.Error())
	}
	if opts.Logf == nil {
		opts.Logf = tb.Logf
	}
	l, err := Build(opts)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		if err := l.Close(); err != nil {
			tb.Errorf("lab %s: close: %v", l.ID, err)
		}
	})
	return l, nil
}

// Build makes a lab outside of a test (the rackwall-lab command uses it).
// The caller owns it and must Close it, or record State and Teardown later.
func Build(opts Options) (*Lab, error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if opts.Servers == 0 {
		opts.Servers = 3
	}
	if opts.Servers < 1 || opts.Servers > 9 {
		return nil, fmt.Errorf("lab: %d servers, want 1..9", opts.Servers)
	}
	id := opts.ID
	if id == "" {
		var b [3]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		id = hex.EncodeToString(b[:])
	}
	if len(id) > 6 || strings.ContainsAny(id, " /") {
		return nil, fmt.Errorf("lab: id %q: want up to 6 characters", id)
	}
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	l := &Lab{
		ID:           id,
		ClientNS:     "rw-" + id + "-client",
		BoxNS:        "rw-" + id + "-box",
		SwitchNS:     "rw-" + id + "-switch",
		ClientIf:     "cl-" + id,
		UplinkPort:   "up-" + id,
		RackPort:     "rk-" + id,
		SwitchUplink: "sb-" + id,
		SwitchBridge: "br-" + id,
		logf:         logf,
		mode:         ModeNone,
		macs:         map[string]net.HardwareAddr{},
		persistent:   opts.Persistent,
	}
	wd, err := os.MkdirTemp("", "rackwall-lab-"+id+"-")
	if err != nil {
		return nil, err
	}
	l.workDir = wd
	for i := 1; i <= opts.Servers; i++ {
		l.ServerNS = append(l.ServerNS, fmt.Sprintf("rw-%s-s%d", id, i))
		l.ServerIf = append(l.ServerIf, fmt.Sprintf("s%d-%s", i, id))
	}
	register(l)
	if err := l.build(); err != nil {
		cerr := l.Close()
		return nil, errors.Join(fmt.Errorf("lab %s: build: %w", id, err), cerr)
	}
	l.builtAt = time.Now()
	return l, nil
}

// Namespaces lists every namespace of the lab.
func (l *Lab) Namespaces() []string {
	out := []string{l.ClientNS, l.BoxNS, l.SwitchNS}
	return append(out, l.ServerNS...)
}

// Server returns the namespace of server i (1-based).
func (l *Lab) Server(i int) string { return l.ServerNS[i-1] }

// Mode reports what joins the box's ports now.
func (l *Lab) Mode() Mode {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.mode
}

// WorkDir is a directory private to this lab (captures, logs, built
// binaries), removed on Close.
func (l *Lab) WorkDir() string { return l.workDir }

// MAC returns the hardware address the lab gave an interface.
func (l *Lab) MAC(ifname string) net.HardwareAddr { return l.macs[ifname] }

// IsLabMAC reports whether a source MAC belongs to one of this lab's
// interfaces: captures use it to tell the lab's own chatter (neighbour
// discovery, MLD) from frames a test injected.
func (l *Lab) IsLabMAC(mac []byte) bool {
	if len(mac) != 6 {
		return false
	}
	for _, m := range l.macs {
		if string(m) == string(mac) {
			return true
		}
	}
	return false
}

// Close stops every process the lab started and deletes its namespaces
// (which takes their interfaces with them). It is safe to call twice.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	procs := l.procs
	cleanups := l.cleanups
	l.mu.Unlock()
	defer unregister(l)

	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanups[i](); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, teardownNamespaces(l.Namespaces(), l.logf))
	errs = append(errs, os.RemoveAll(l.workDir))
	return errors.Join(errs...)
}

func (l *Lab) addCleanup(f func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cleanups = append(l.cleanups, f)
}

func (l *Lab) setMode(m Mode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return errors.New("lab: closed")
	}
	if l.mode != ModeNone {
		return fmt.Errorf("lab: box already in mode %s", l.mode)
	}
	l.mode = m
	return nil
}
