package tests

import (
	"os"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// The steps every test that boots an image under qemu on the rack lab
// shares: whether it can run here, attaching the VM's bridge ports to the
// lab, where its serial console log goes, the box's first run, and sending
// fragmented datagrams across it.

// skipUnlessQemu skips a test that boots an image under qemu where it
// cannot run: under -short (what says what the test would have done),
// without root (the lab's namespaces and the bridge ports' tap devices), or
// without qemu and OVMF.
func skipUnlessQemu(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: " + what)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces and tap devices")
	}
	if err := qemu.Available(); err != nil {
		t.Skip(err.Error())
	}
}

// labTaps are the rack lab's two tap devices in place of the box: the VMs
// a test boots one after another attach their uplink and rack ports to
// them.
type labTaps struct {
	t            *testing.T
	l            *lab.Lab
	uplink, rack string
	// A tap is attached by one VM at a time: a VM's descriptors are closed
	// when it is powered off, before the next VM opens the taps again.
	open map[*qemu.VM][2]*os.File
}

// useLabTaps puts the tap devices in the lab in place of the box.
func useLabTaps(t *testing.T, l *lab.Lab) *labTaps {
	t.Helper()
	uplink, rack, err := l.UseTaps()
	if err != nil {
		t.Fatal(err)
	}
	return &labTaps{t: t, l: l, uplink: uplink, rack: rack, open: map[*qemu.VM][2]*os.File{}}
}

// boot starts a VM as o describes with its uplink and rack ports on the
// lab's taps. It is powered off by powerOff or when the test ends.
func (lt *labTaps) boot(o qemu.Options) *qemu.VM {
	t := lt.t
	t.Helper()
	up, err := lab.OpenTap(lt.l.BoxNS, lt.uplink)
	if err != nil {
		t.Fatal(err)
	}
	rack, err := lab.OpenTap(lt.l.BoxNS, lt.rack)
	if err != nil {
		up.Close()
		t.Fatal(err)
	}
	o.Uplink, o.Rack = up, rack
	vm, err := qemu.Start(o)
	if err != nil {
		up.Close()
		rack.Close()
		t.Fatal(err)
	}
	lt.open[vm] = [2]*os.File{up, rack}
	t.Cleanup(func() { lt.powerOff(vm) })
	return vm
}

// powerOff stops the VM, waits until qemu has exited and closes its taps.
func (lt *labTaps) powerOff(vm *qemu.VM) {
	vm.Stop()
	<-vm.Done()
	for _, f := range lt.open[vm] {
		f.Close()
	}
	delete(lt.open, vm)
}

// keptVMDir is a folder for a VM's files (its serial console log) that is
// kept, and named in the test's log, when the test fails.
func keptVMDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("serial console log kept in %s", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// logSerialOnFailure logs the end of the VM's serial console when the test
// fails.
func logSerialOnFailure(t *testing.T, vm *qemu.VM) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(serialTail(vm, 60)())
		}
	})
}

// firstBoot waits until a box booted from a fresh image answers healthy,
// then sets its admin password through the first-run flow with the setup
// code from its serial console, and goes on with the API token.
func (c *uiClient) firstBoot(vm *qemu.VM, password string) {
	c.t.Helper()
	c.waitHealthy(5*time.Minute, serialTail(vm, 60))
	c.hc.Timeout = 2 * time.Minute // bcrypt under software emulation
	c.firstRun(password, setupCodeIn(c.t, serialText(vm)))
	c.hc.Timeout = 20 * time.Second
}

// fragmentsAtClient has s1 send fragmentScript's malformed and good
// fragmented datagrams to the client and counts the fragments of each that
// arrive there.
func fragmentsAtClient(t *testing.T, l *lab.Lab) (bad, good int) {
	t.Helper()
	c, err := l.StartCapture(l.ClientNS, l.ClientIf, "ip and (ip[4:2] = 0x4242 or ip[4:2] = 0x4343)")
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.Exec(l.Server(1), "/usr/bin/python3", "-c", fragmentScript, l.ServerIf[0],
		l.MAC(l.ServerIf[0]).String(), l.MAC(l.ClientIf).String(), lab.ServerV4(1).String(), lab.ClientV4.String())
	if err != nil {
		t.Fatalf("scapy: %v\n%s", err, out)
	}
	time.Sleep(2 * time.Second)
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pkts {
		if len(p.Data) < 20 {
			continue
		}
		switch uint16(p.Data[18])<<8 | uint16(p.Data[19]) {
		case 0x4242:
			bad++
		case 0x4343:
			good++
		}
	}
	return bad, good
}
