// Package tests holds the rack-lab tests of the dataplane: traffic between
// a client and servers through the box, crafted frames, the fragment corpus
// and a flood. They need root, iproute2, ethtool, tcpdump, tcpreplay, iperf3,
// hping3 and Debian's python3 with scapy; each test skips with one line
// naming what is missing.
package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

func TestMain(m *testing.M) {
	code := m.Run()
	lab.RemoveBuilds()
	os.Exit(code)
}

// scapyPython is Debian's interpreter, the one with scapy; the python3 first
// on PATH may be another.
const scapyPython = "/usr/bin/python3"

// injectMAC is the source MAC of frames the tests craft: no lab interface
// has it, so captures can pick those frames out of the lab's own chatter.
const injectMAC = "02:42:de:ad:00:01"

// box is one way to join the box's ports, so a test can run against the
// kernel bridge (the baseline, also proving the test itself) and against
// rackwall.
type bridgeBox struct {
	name  string
	start func(t *testing.T, l *lab.Lab) *lab.Dataplane
}

var bridgeBoxes = []bridgeBox{
	{"kernel", func(t *testing.T, l *lab.Lab) *lab.Dataplane {
		if err := l.UseKernelBridge(); err != nil {
			t.Fatal(err)
		}
		return nil
	}},
	{"rackwall", func(t *testing.T, l *lab.Lab) *lab.Dataplane { return startDataplane(t, l) }},
}

func startDataplane(t *testing.T, l *lab.Lab, args ...string) *lab.Dataplane {
	t.Helper()
	bin := lab.DataplaneBinary(t)
	d, err := l.StartDataplane(bin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// newLab builds a lab for t (skipping when the host cannot) and checks
// the tools the test needs are present.
func newLab(t *testing.T, servers int, tools ...string) *lab.Lab {
	t.Helper()
	if err := lab.Available(); err != nil {
		t.Skip(err.Error())
	}
	lab.RequireTools(t, tools...)
	l, err := lab.NewFor(t, lab.Options{Servers: servers, Logf: quietLogf(t)})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// quietLogf logs lab commands only with -v, and then only in compressed
// form: they are noise unless a test fails.
func quietLogf(t *testing.T) func(string, ...any) {
	if !testing.Verbose() || os.Getenv("RACKWALL_LAB_TRACE") == "" {
		return func(string, ...any) {}
	}
	return t.Logf
}

// needScapy skips unless Debian's python3 can import scapy.
func needScapy(t *testing.T) {
	t.Helper()
	if err := exec.Command(scapyPython, "-c", "import scapy.all").Run(); err != nil {
		t.Skipf("needs %s with scapy: %v", scapyPython, err)
	}
}

// scapyScript is the path of a script in tests/scapy.
func scapyScript(t *testing.T, name string) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "tests", "scapy", name)
}

// craft runs tests/scapy/craft.py with args and fails the test on error.
func craft(t *testing.T, args ...string) {
	t.Helper()
	needScapy(t)
	cmd := exec.Command(scapyPython, append([]string{scapyScript(t, "craft.py")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("craft.py %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// fromInjector keeps the captured frames whose source MAC is injectMAC.
func fromInjector(pkts []lab.Packet) [][]byte {
	var out [][]byte
	for _, p := range pkts {
		if len(p.Data) >= 12 && macString(p.Data[6:12]) == injectMAC {
			out = append(out, p.Data)
		}
	}
	return out
}

// notFromLab drops frames sent by the lab's own interfaces (neighbour
// discovery, MLD, ARP of the hosts), keeping everything else.
func notFromLab(l *lab.Lab, pkts []lab.Packet) [][]byte {
	var out [][]byte
	for _, p := range pkts {
		if len(p.Data) >= 12 && l.IsLabMAC(p.Data[6:12]) {
			continue
		}
		out = append(out, p.Data)
	}
	return out
}

func macString(b []byte) string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5])
}

// multisetDiff compares two lists of frames as multisets and describes
// what is missing from got and what got has in excess.
func multisetDiff(want, got [][]byte) (missing, extra [][]byte) {
	count := map[string]int{}
	for _, w := range want {
		count[string(w)]++
	}
	for _, g := range got {
		count[string(g)]--
	}
	for _, w := range want {
		if count[string(w)] > 0 {
			missing = append(missing, w)
			count[string(w)]--
		}
	}
	for k, n := range count {
		for ; n < 0; n++ {
			extra = append(extra, []byte(k))
		}
	}
	sort.Slice(extra, func(i, j int) bool { return bytes.Compare(extra[i], extra[j]) < 0 })
	return missing, extra
}

// hexHead shows the first bytes of a frame for a failure message.
func hexHead(b []byte) string {
	n := min(len(b), 64)
	return fmt.Sprintf("%d bytes % x", len(b), b[:n])
}

// dropDelta is the change in rackwall_drops_total by reason.
func dropDelta(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			out[k] = d
		}
	}
	return out
}

// waitDrops polls the dataplane's drop counters until at least n more
// drops than before are counted, or d passes, and returns the delta.
func waitDrops(t *testing.T, dp *lab.Dataplane, before map[string]float64, n float64, d time.Duration) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		after, err := dp.Drops()
		if err != nil {
			t.Fatal(err)
		}
		delta := dropDelta(before, after)
		var total float64
		for _, v := range delta {
			total += v
		}
		if total >= n || time.Now().After(deadline) {
			return delta
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tempDir is t.TempDir without the cleanup ordering trouble of captures
// still writing: it lives under the lab's work dir, removed on Close.
func tempDir(t *testing.T, l *lab.Lab, name string) string {
	t.Helper()
	dir := filepath.Join(l.WorkDir(), strings.NewReplacer("/", "_", " ", "_").Replace(name))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// dropSnapshot reads the drop counters of dp (nil for a kernel box).
func dropSnapshot(t *testing.T, dp *lab.Dataplane) map[string]float64 {
	t.Helper()
	if dp == nil {
		return nil
	}
	m, err := dp.Drops()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// explainFailure logs what the dataplane counted since before, and its
// last output, when t has failed: the first thing to look at when frames
// went missing.
func explainFailure(t *testing.T, dp *lab.Dataplane, before map[string]float64) {
	t.Helper()
	if dp == nil || !t.Failed() {
		return
	}
	if after, err := dp.Drops(); err == nil {
		t.Logf("dataplane drops during the test: %v", dropDelta(before, after))
	}
	if m, err := dp.Metrics(); err == nil {
		t.Logf("ring drops %v, transmit drops %v", m.ByLabel("rackwall_ring_drops_total", "port"), m.ByLabel("rackwall_transmit_drops_total", "port"))
	}
	t.Logf("dataplane output (last 2 KiB):\n%s", tail(dp.Output(), 2048))
}
