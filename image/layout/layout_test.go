package layout

import (
	"bytes"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/boards"
)

func qemuBoard(t *testing.T) boards.Board {
	b, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGUIDText(t *testing.T) {
	g := PartitionGUID(0x2a9d41c7, 1)
	if got, want := g.String(), "60c24cc1-f3f9-427a-8199-2a9d41c70001"; got != want {
		t.Fatalf("PartitionGUID = %s, want %s", got, want)
	}
	// Mixed endian on disk: the first field is little endian.
	if !bytes.Equal(g[:4], []byte{0xc1, 0x4c, 0xc2, 0x60}) || !bytes.Equal(g[8:], []byte{0x81, 0x99, 0x2a, 0x9d, 0x41, 0xc7, 0x00, 0x01}) {
		t.Fatalf("on-disk bytes % x", g[:])
	}
	if TypeESP.String() != "c12a7328-f81f-11d2-ba4b-00a0c93ec93b" {
		t.Fatalf("ESP type %s", TypeESP)
	}
	for _, bad := range []string{"", "60c24cc1-f3f9-427a-8199-2a9d41c7000", "60c24cc1xf3f9-427a-8199-2a9d41c70001", "g0c24cc1-f3f9-427a-8199-2a9d41c70001"} {
		if _, err := ParseGUID(bad); err == nil {
			t.Errorf("ParseGUID(%q) succeeded", bad)
		}
	}
}

func TestLayoutMatchesGokrazy(t *testing.T) {
	b := qemuBoard(t)
	l, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		first, sectors uint64
		typ            GUID
	}{
		{8192, 100 * mib / 512, TypeESP},
		{8192 + 100*mib/512, 500 * mib / 512, TypeRootAMD64},
		{8192 + 600*mib/512, 500 * mib / 512, TypeLinuxData},
	}
	for i, w := range want {
		p := l.Parts[i]
		if p.FirstLBA != w.first || p.Sectors != w.sectors || p.Type != w.typ || p.Number != i+1 {
			t.Errorf("partition %d = %+v, want start %d size %d", i+1, p, w.first, w.sectors)
		}
	}
	perm := l.Parts[3]
	if perm.FirstLBA != l.Parts[2].FirstLBA+l.Parts[2].Sectors || perm.FirstLBA+perm.Sectors > l.DiskSectors-33 {
		t.Errorf("perm %+v does not follow slot B within the disk", perm)
	}
	if got := l.RootArgument(PartRootB); got != "root=PARTUUID=60c24cc1-f3f9-427a-8199-2a9d41c70001/PARTNROFF=2" {
		t.Errorf("slot B root= %s", got)
	}
}

func TestBootText(t *testing.T) {
	b := qemuBoard(t)
	l, _ := New(b)
	want := "console=tty1 console=ttyS0,115200 root=PARTUUID=60c24cc1-f3f9-427a-8199-2a9d41c70001/PARTNROFF=1 ro init=/gokrazy/init panic=10 oops=panic rootwait pci=nommconf rackwall.slot=a"
	if got := KernelCmdline(b, l, SlotA); got != want {
		t.Errorf("cmdline\n got %s\nwant %s", got, want)
	}
	e := LoaderEntry(b, l, SlotB, "7")
	if !strings.Contains(e, "linux /b/vmlinuz\n") || !strings.Contains(e, "/PARTNROFF=2 ") || !strings.Contains(e, "rackwall.slot=b") {
		t.Errorf("slot B entry:\n%s", e)
	}
	if LoaderEntryPath(SlotB, 3) != "/loader/entries/rackwall-b+3.conf" {
		t.Error(LoaderEntryPath(SlotB, 3))
	}
	if !strings.HasPrefix(LoaderConfig(), "timeout 0\n") {
		t.Error(LoaderConfig())
	}
	pi, _ := boards.Lookup("rpi4")
	c := RPiConfigTxt(pi, SlotB)
	for _, w := range []string{"arm_control=0x200\n", "enable_uart=1\n", "kernel=vmlinuz-b\n", "cmdline=cmdline-b.txt\n"} {
		if !strings.Contains(c, w) {
			t.Errorf("tryboot config lacks %q:\n%s", w, c)
		}
	}
}
