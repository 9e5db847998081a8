package lab

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MetricsAddr is where StartDataplane asks the dataplane to serve /metrics,
// on the box namespace's loopback, unless the caller passes --metrics.
const MetricsAddr = "127.0.0.1:9464"

// Dataplane is a rackwall-dataplane process running as the box.
type Dataplane struct {
	*Proc
	lab         *Lab
	metricsAddr string
}

// StartDataplane runs binary in the box namespace with --uplink and --rack
// set to the box's ports (and --metrics, unless args has one), then waits
// until a ping from the client reaches s1 through it.
func (l *Lab) StartDataplane(binary string, args ...string) (*Dataplane, error) {
	addr := MetricsAddr
	if i := slices.Index(args, "--metrics"); i >= 0 && i+1 < len(args) {
		addr = args[i+1]
	} else {
		args = append(args, "--metrics", addr)
	}
	p, err := l.startBox(binary, args)
	if err != nil {
		return nil, err
	}
	d := &Dataplane{Proc: p, lab: l, metricsAddr: addr}
	if err := d.waitReady(20 * time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%w\ndataplane output:\n%s", err, p.Output())
	}
	return d, nil
}

// StartForwarder runs any other program that forwards between the box's
// ports as rackwall-dataplane does (the same --uplink and --rack flags, no
// /metrics), and waits until a ping from the client reaches s1 through it.
// ResetBox stops it.
func (l *Lab) StartForwarder(binary string, args ...string) (*Proc, error) {
	p, err := l.startBox(binary, args)
	if err != nil {
		return nil, err
	}
	if err := l.WaitForwarding(20 * time.Second); err != nil {
		p.Stop()
		return nil, fmt.Errorf("%s: %w\noutput:\n%s", filepath.Base(binary), err, p.Output())
	}
	return p, nil
}

// startBox starts binary as the box, with --uplink and --rack set to the
// box's ports.
func (l *Lab) startBox(binary string, args []string) (*Proc, error) {
	if err := l.setMode(ModeDataplane); err != nil {
		return nil, err
	}
	// A host announces itself with MLD reports from :: the moment its link
	// comes up; :: is a martian source (H2) the dataplane would count. Let
	// that pass before the box starts, so counters show only what tests send.
	time.Sleep(time.Until(l.builtAt.Add(1500 * time.Millisecond)))
	argv := append([]string{binary, "--uplink", l.UplinkPort, "--rack", l.RackPort}, args...)
	p, err := l.Start(l.BoxNS, argv...)
	if err != nil {
		return nil, err
	}
	p.forwarder = true
	return p, nil
}

func (d *Dataplane) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if done, err := d.Exited(); done {
			return fmt.Errorf("dataplane exited: %v", err)
		}
		if _, err := d.Metrics(); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if _, err := d.Metrics(); err != nil {
		return fmt.Errorf("dataplane /metrics on %s: %w", d.metricsAddr, err)
	}
	return d.lab.WaitForwarding(time.Until(deadline) + 2*time.Second)
}

// MetricsURL is the /metrics URL inside the box namespace.
func (d *Dataplane) MetricsURL() string { return "http://" + d.metricsAddr + "/metrics" }

// Metrics scrapes /metrics from inside the box namespace.
func (d *Dataplane) Metrics() (Metrics, error) {
	body, err := HTTPGet(d.lab.BoxNS, d.MetricsURL(), 5*time.Second)
	if err != nil {
		return nil, err
	}
	return ParseMetrics(string(body))
}

// Drops returns rackwall_drops_total by reason label.
func (d *Dataplane) Drops() (map[string]float64, error) {
	m, err := d.Metrics()
	if err != nil {
		return nil, err
	}
	return m.ByLabel("rackwall_drops_total", "reason"), nil
}

// PeakRSS returns the process's peak resident set (VmHWM) in bytes.
func (d *Dataplane) PeakRSS() (int64, error) { return PeakRSS(d.PID()) }

// PeakRSS reads VmHWM of a process from /proc.
func PeakRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fields := strings.Fields(v)
			if len(fields) != 2 || fields[1] != "kB" {
				return 0, fmt.Errorf("VmHWM: unexpected %q", line)
			}
			kb, err := strconv.ParseInt(fields[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("VmHWM not found")
}

// RepoRoot finds the module root (the directory holding go.mod) above the
// working directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

var (
	buildMu    sync.Mutex
	builtPaths = map[string]string{}
	builtDirs  []string
	buildErr   error
)

// DataplanePackage is the main package of the dataplane binary.
const DataplanePackage = "./dataplane/cmd/rackwall-dataplane"

// RingCopyPackage is the benchmark's floor forwarder: the dataplane's rings
// and transmit path with no pipeline (see tests/bench).
const RingCopyPackage = "./tests/bench/ringcopy"

// BuildDataplane compiles rackwall-dataplane into dir and returns its path.
func BuildDataplane(dir string) (string, error) {
	return BuildCommand(dir, DataplanePackage)
}

// BuildCommand compiles the main package pkg (relative to the module root)
// into dir, named after its last element, and returns the binary's path.
func BuildCommand(dir, pkg string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, pkg)); err != nil {
		return "", fmt.Errorf("command %s: %w", pkg, err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return out, nil
}

// DataplaneBinary builds the dataplane once per test binary and returns its
// path. RACKWALL_DATAPLANE names a prebuilt binary instead. A command that
// is missing or fails to build fails the test.
func DataplaneBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv("RACKWALL_DATAPLANE"); p != "" {
		return p
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if buildErr != nil {
		tb.Fatal(buildErr) // built once already, and it failed
	}
	if p, ok := builtPaths["dataplane"]; ok {
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, DataplanePackage)); err != nil {
		tb.Fatalf("%s is part of the repository: %v", DataplanePackage, err)
	}
	dir, err := os.MkdirTemp("", "rackwall-dataplane-")
	if err != nil {
		tb.Fatal(err)
	}
	builtDirs = append(builtDirs, dir)
	p, err := BuildDataplane(dir)
	if err != nil {
		buildErr = err
		tb.Fatal(err)
	}
	builtPaths["dataplane"] = p
	return p
}

// RemoveBuilds deletes the binaries DataplaneBinary built; call it from
// TestMain after m.Run.
func RemoveBuilds() {
	buildMu.Lock()
	defer buildMu.Unlock()
	for _, d := range builtDirs {
		os.RemoveAll(d)
	}
	builtDirs = nil
	buildErr = nil
	clear(builtPaths)
}
