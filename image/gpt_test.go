package image

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

func qemuBoard(t *testing.T) boards.Board {
	b, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type memDisk struct{ b []byte }

func (m *memDisk) WriteAt(p []byte, off int64) (int, error) { return copy(m.b[off:], p), nil }

func TestPartitionTables(t *testing.T) {
	l, err := layout.New(qemuBoard(t))
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
		if !bytes.Equal(array[16:32], layout.PartitionGUID(0x2a9d41c7, 1).Bytes()) {
			t.Error("first entry GUID")
		}
	}
}
