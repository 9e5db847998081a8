package image

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
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
	l, err := NewLayout(b)
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

type memDisk struct{ b []byte }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }

func TestPartitionTables(t *testing.T) {
	l, err := NewLayout(qemuBoard(t))
	if err != nil {
		t.Fatal(err)
	}
	// Only the first and last 34 sectors matter; map them into a small buffer.
	d := &memDisk{b: make([]byte, l.DiskSectors*512)}
	if err := writePartitionTables(d, l); err != nil {
		t.Fatal(err)
	}
	mbr := d.b[:512]
	if sig := binary.LittleEndian.Uint32(mbr[440:]); sig != 0x2a9d41c7 {
		t.Errorf("disk signature %08x", sig)
	}
	if mbr[444] != 0 || mbr[445] != 0 || mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Error("bad MBR trailer bytes")
	}
	e1, e2 := mbr[446:462], mbr[462:478]
	if e1[0] != 0x80 || e1[4] != 0x0c || binary.LittleEndian.Uint32(e1[8:]) != 8192 || binary.LittleEndian.Uint32(e1[12:]) != 204800 {
		t.Errorf("MBR entry 1 % x", e1)
	}
	if e2[0] != 0 || e2[4] != 0xee || binary.LittleEndian.Uint32(e2[8:]) != 1 || binary.LittleEndian.Uint32(e2[12:]) != 8191 {
		t.Errorf("MBR entry 2 % x", e2)
	}
	if !bytes.Equal(mbr[478:510], make([]byte, 32)) {
		t.Error("MBR entries 3 and 4 are not empty")
	}
	for _, hdrLBA := range []uint64{1, l.DiskSectors - 1} {
		h := d.b[hdrLBA*512 : hdrLBA*512+512]
		if string(h[:8]) != "EFI PART" {
			t.Fatalf("no GPT header at LBA %d", hdrLBA)
		}
		crc := binary.LittleEndian.Uint32(h[16:])
		tmp := append([]byte(nil), h[:92]...)
		binary.LittleEndian.PutUint32(tmp[16:], 0)
		if crc32.ChecksumIEEE(tmp) != crc {
			t.Errorf("header CRC at LBA %d", hdrLBA)
		}
		arrayLBA := binary.LittleEndian.Uint64(h[72:])
		array := d.b[arrayLBA*512 : arrayLBA*512+128*128]
		if crc32.ChecksumIEEE(array) != binary.LittleEndian.Uint32(h[88:]) {
			t.Errorf("array CRC at LBA %d", arrayLBA)
		}
		if !bytes.Equal(h[56:72], l.DiskGUID[:]) {
			t.Error("disk GUID")
		}
		// gokrazy's rootdev reads the first entry's GUID at LBA 2 + 16.
		if !bytes.Equal(array[16:32], PartitionGUID(0x2a9d41c7, 1).Bytes()) {
			t.Error("first entry GUID")
		}
	}
}

func TestBootText(t *testing.T) {
	b := qemuBoard(t)
	l, _ := NewLayout(b)
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
