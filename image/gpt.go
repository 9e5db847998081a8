package image

import (
	"encoding/binary"
	"hash/crc32"
	"io"
	"unicode/utf16"

	"github.com/rackwall/rackwall/image/layout"
)

// writePartitionTables writes the hybrid MBR (sector 0), the primary GPT
// (sectors 1..33) and the backup GPT (last 33 sectors) for l to w.
func writePartitionTables(w io.WriterAt, l layout.Disk) error {
	if _, err := w.WriteAt(hybridMBR(l), 0); err != nil {
		return err
	}
	array := gptArray(l)
	last := l.DiskSectors - 1
	backupArray := last - layout.GPTArraySectors
	primary := gptHeader(l, 1, last, 2, array)
	backup := gptHeader(l, last, 1, backupArray, array)
	for _, wr := range []struct {
		b   []byte
		lba uint64
	}{{primary, 1}, {array, 2}, {array, backupArray}, {backup, last}} {
		if _, err := w.WriteAt(wr.b, int64(wr.lba)*layout.SectorSize); err != nil {
			return err
		}
	}
	return nil
}

// hybridMBR returns sector 0: no boot code (UEFI and the Pi firmware need
// none), the disk signature, entry 1 = the FAT boot partition (type 0x0C,
// bootable) so MBR-only readers such as the Raspberry Pi firmware find it,
// and entry 2 = type 0xEE over LBA 1..8191 so UEFI and Linux use the GPT.
func hybridMBR(l layout.Disk) []byte {
	s := make([]byte, layout.SectorSize)
	binary.LittleEndian.PutUint32(s[440:], l.DeviceID)
	// bytes 444..445 stay zero: gokrazy's rootdev checks that.
	entry := func(i int, boot, typ byte, first, count uint64) {
		e := s[446+16*i : 446+16*(i+1)]
		e[0] = boot
		copy(e[1:4], []byte{0xfe, 0xff, 0xff}) // CHS unusable: LBA only
		e[4] = typ
		copy(e[5:8], []byte{0xfe, 0xff, 0xff})
		binary.LittleEndian.PutUint32(e[8:], uint32(first))
		binary.LittleEndian.PutUint32(e[12:], uint32(count))
	}
	boot := l.Parts[0]
	entry(0, 0x80, 0x0c, boot.FirstLBA, boot.Sectors)
	entry(1, 0x00, 0xee, 1, layout.FirstPartitionLBA-1)
	s[510], s[511] = 0x55, 0xaa
	return s
}

// gptArray returns the partition entry array (128 entries of 128 bytes).
func gptArray(l layout.Disk) []byte {
	a := make([]byte, layout.GPTArraySectors*layout.SectorSize)
	for i, p := range l.Parts {
		e := a[128*i : 128*(i+1)]
		copy(e[0:16], p.Type[:])
		copy(e[16:32], p.GUID[:])
		binary.LittleEndian.PutUint64(e[32:], p.FirstLBA)
		binary.LittleEndian.PutUint64(e[40:], p.FirstLBA+p.Sectors-1)
		for j, u := range utf16.Encode([]rune(p.Name)) {
			if j >= 36 {
				break
			}
			binary.LittleEndian.PutUint16(e[56+2*j:], u)
		}
	}
	return a
}

// gptHeader returns one GPT header sector.
func gptHeader(l layout.Disk, self, alternate, arrayLBA uint64, array []byte) []byte {
	s := make([]byte, layout.SectorSize)
	copy(s[0:8], "EFI PART")
	binary.LittleEndian.PutUint32(s[8:], 0x00010000) // revision 1.0
	binary.LittleEndian.PutUint32(s[12:], 92)        // header size
	binary.LittleEndian.PutUint64(s[24:], self)
	binary.LittleEndian.PutUint64(s[32:], alternate)
	binary.LittleEndian.PutUint64(s[40:], 2+layout.GPTArraySectors)               // first usable
	binary.LittleEndian.PutUint64(s[48:], l.DiskSectors-2-layout.GPTArraySectors) // last usable
	copy(s[56:72], l.DiskGUID[:])
	binary.LittleEndian.PutUint64(s[72:], arrayLBA)
	binary.LittleEndian.PutUint32(s[80:], layout.GPTEntries)
	binary.LittleEndian.PutUint32(s[84:], 128)
	binary.LittleEndian.PutUint32(s[88:], crc32.ChecksumIEEE(array))
	binary.LittleEndian.PutUint32(s[16:], crc32.ChecksumIEEE(s[:92]))
	return s
}
