package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// intelBoard is the board whose image the Intel NIC test boots: the N100
// box. qemu cannot emulate its i226-V (igc), so its image runs on qemu's
// Intel models instead: the same kernel, the same programs, the ports found
// in bus order under the same names.
const intelBoard = "n100-4x-i226"

// n100Image returns the N100 image of this run (version 1, trusting the
// qemu tests' update key), building it the first time a test asks.
func n100Image(t testing.TB) string {
	t.Helper()
	return cachedImage(t, intelBoard+"-v1", func(out string) {
		keys := qemuUpdateKeys(t)
		buildImage(t, intelBoard, out, func(c *image.Config) {
			c.Version = "1"
			c.UpdateKeys = map[string][]byte{"test.pub": keys.pubTxt}
		})
	})
}

// TestQemuIntelNICs boots the N100 board's image in qemu with all three
// ports on an emulated Intel card and the bridge ports on the rack lab, and
// checks what the virtio boot checks: a frame from the client reaches a
// server and the answer comes back, the appliance reports itself healthy,
// and the dataplane, not a bridge, is what carries the frames (a malformed
// fragmented datagram is dropped, a good one passes). It also checks that
// the Intel driver bound every card and gave it the name the board expects
// for its role. The figure it reports is the time from qemu's start to
// the first frame carried across the box.
func TestQemuIntelNICs(t *testing.T) {
	for _, nic := range []qemu.NIC{qemu.NICE1000E, qemu.NICIGB} {
		t.Run(nic.Driver(), func(t *testing.T) { testQemuIntelNIC(t, nic) })
	}
}

func testQemuIntelNIC(t *testing.T, nic qemu.NIC) {
	skipUnlessQemu(t, "boots the image under qemu")
	if err := nic.Supported(); err != nil {
		t.Skip(err.Error())
	}
	skipWithoutSystemdBoot(t)
	lab.RequireTools(t, "ping", "tcpdump", "/usr/bin/python3")
	b, err := boards.Lookup(intelBoard)
	if err != nil {
		t.Fatal(err)
	}
	roles := []boards.Port{b.Management, b.Uplink, b.Rack} // qemu's port order

	img := privateCopy(t, n100Image(t))
	l, err := lab.NewFor(t, lab.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	httpsPort := freeTCPPort(t)
	vm := useLabTaps(t, l).boot(qemu.Options{Image: img, WorkDir: keptVMDir(t, "rackwall-qemu-intel-"), NIC: nic,
		Forwards: []qemu.Forward{{Host: httpsPort, Guest: 443}}, Output: &tLog{t: t, prefix: "qemu: "}})
	t.Logf("%s: qemu with -accel %v, every port an emulated %s", intelBoard, vm.Accel, nic)

	// Client → s1 and back, as soon as the box carries anything.
	pingAfter := <-waitFirstPing(l, vm.Started, 4*time.Minute)
	if pingAfter < 0 {
		t.Fatalf("no ping crossed the booted box within 4 minutes of qemu's start\n%s", serialTail(vm, 80)())
	}
	t.Logf("qemu start → first frame forwarded (client ping to s1 and its answer) on %s: %.1fs", nic.Driver(), pingAfter.Seconds())

	// The Intel driver bound each card, and the kernel named it as the
	// board's role expects (qemu's bus order is management, uplink, rack).
	serial, _ := os.ReadFile(vm.SerialLog)
	for i, role := range roles {
		mac := qemu.PortMAC(i)
		got, err := boundInterface(string(serial), nic.Driver(), mac)
		if err != nil {
			t.Errorf("%s (%s): %v", role.Name, role.Label, err)
			continue
		}
		if got != role.Name {
			t.Errorf("the card with MAC %s came up as %s under %s; the board expects %s (%s) for it",
				mac, got, nic.Driver(), role.Name, role.Label)
			continue
		}
		t.Logf("%s card %s is %s, the board's %s", nic.Driver(), mac, got, role.Label)
	}

	ui := newUIClient(t, fmt.Sprintf("https://127.0.0.1:%d", httpsPort), nil)
	if h := ui.waitHealthy(2*time.Minute, serialTail(vm, 60)); !h.Healthy {
		t.Fatalf("anonymous healthz = %+v, want healthy", h)
	}
	t.Logf("qemu start → /healthz 200: %.1fs", time.Since(vm.Started).Seconds())
	// From now on the box's bridge ports must not send a frame of their
	// own (the firmware's network stack does while it boots).
	silence := startSilenceCapture(t, l)

	// Full frames the other way: a TCP exchange from the client.
	tcpEcho(t, l.Server(1), lab.ServerV4(1).String()+":7001")
	if err := tcpExchange(l.ClientNS, lab.ServerV4(1).String()+":7001", 10*time.Second); err != nil {
		t.Fatalf("TCP client→s1: %v", err)
	}

	// The dataplane judges what crosses: a kernel bridge (the fail-open
	// bypass) would carry the malformed datagram too.
	bad, good := fragmentsAtClient(t, l)
	t.Logf("fragments at the client: %d of the malformed datagram (want 0), %d of the good one (want 2)", bad, good)
	if bad != 0 || good != 2 {
		t.Errorf("fragment sanitization through the box on %s: malformed %d, good %d", nic.Driver(), bad, good)
	}
	assertSilent(t, silence)
}

// privateCopy returns a writable sparse copy of a shared test image in a
// folder of t's.
func privateCopy(t *testing.T, src string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "disk.img")
	if err := copySparse(src, dst); err != nil {
		t.Fatalf("copying the test image: %v", err)
	}
	return dst
}

// boundInterface finds, in a guest's kernel log, the interface name the
// driver gave the card with the MAC address. e1000e and igb both announce
// a card once it is registered, as
//
//	e1000e 0000:00:03.0 eth0: (PCI Express:2.5GT/s:Width x1) 02:72:77:00:00:01
func boundInterface(kernelLog, driver, mac string) (string, error) {
	re := regexp.MustCompile(`(?m)\b` + regexp.QuoteMeta(driver) +
		` [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]:? (\w+): .*\b` + regexp.QuoteMeta(strings.ToLower(mac)) + `\b`)
	var names []string
	for _, m := range re.FindAllStringSubmatch(strings.ToLower(kernelLog), -1) {
		names = append(names, m[1])
	}
	switch len(names) {
	case 0:
		return "", fmt.Errorf("the kernel log shows no %s card with MAC %s", driver, mac)
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("the kernel log shows the %s card with MAC %s more than once: %v", driver, mac, names)
}

// boundInterface reads the interface name off the driver's own line for
// the card, and nothing else: another driver's card, another MAC, or a
// card announced twice is no answer.
func TestBoundInterface(t *testing.T) {
	log := `[    1.10] e1000e: Intel(R) PRO/1000 Network Driver
[    1.52] e1000e 0000:00:03.0 eth0: (PCI Express:2.5GT/s:Width x1) 02:72:77:00:00:01
[    1.53] e1000e 0000:00:03.0 eth0: Intel(R) PRO/1000 Network Connection
[    1.71] e1000e 0000:00:04.0 eth1: (PCI Express:2.5GT/s:Width x1) 02:72:77:00:00:02
[    1.72] igb 0000:00:05.0: eth2: (PCIe:2.5Gb/s:Width x1) 02:72:77:00:00:03
[    1.90] e1000e 0000:00:06.0 eth3: (PCI Express:2.5GT/s:Width x1) 02:72:77:00:00:04
[    1.91] e1000e 0000:00:07.0 eth4: (PCI Express:2.5GT/s:Width x1) 02:72:77:00:00:04
`
	for _, tc := range []struct{ driver, mac, want, err string }{
		{"e1000e", "02:72:77:00:00:01", "eth0", ""},
		{"e1000e", "02:72:77:00:00:02", "eth1", ""},
		{"igb", "02:72:77:00:00:03", "eth2", ""},
		{"e1000e", "02:72:77:00:00:03", "", "no e1000e card"},
		{"e1000e", "02:72:77:00:00:0a", "", "no e1000e card"},
		{"e1000e", "02:72:77:00:00:04", "", "more than once"},
	} {
		got, err := boundInterface(log, tc.driver, tc.mac)
		if got != tc.want || (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("boundInterface(%s, %s) = %q, %v; want %q, error %q", tc.driver, tc.mac, got, err, tc.want, tc.err)
		}
	}
}
