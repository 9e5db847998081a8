package image

import (
	"encoding/binary"
	"fmt"

	"github.com/rackwall/rackwall/boards"
)

const (
	sectorSize = 512
	mib        = 1 << 20
	// firstPartitionLBA is where gokrazy's layout starts partition 1 (4 MiB).
	firstPartitionLBA = 8192
	// gptEntries is the number of 128-byte entries in each partition array.
	gptEntries = 128
	// gptArraySectors is the size of one partition array in sectors.
	gptArraySectors = gptEntries * 128 / sectorSize
)

// Partition numbers as the gokrazy runtime (rootdev) knows them.
const (
	PartBoot  = 1
	PartRootA = 2
	PartRootB = 3
	PartPerm  = 4
)

// GUIDs of partition types (GPT spec and the discoverable partitions spec).
var (
	TypeESP       = mustGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeRootAMD64 = mustGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709")
	TypeRootARM64 = mustGUID("B921B045-1DF0-41C3-AF44-4C6F280D3FAE")
	TypeLinuxData = mustGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
)

// Partition is one entry of the layout.
type Partition struct {
	Number   int
	Name     string
	Type     GUID
	GUID     GUID
	FirstLBA uint64
	Sectors  uint64
}

// Offset and Size are in bytes.
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * sectorSize }
func (p Partition) Size() int64   { return int64(p.Sectors) * sectorSize }

// Layout is the partitioning of one board's disk.
type Layout struct {
	DiskSectors uint64
	DeviceID    uint32
	DiskGUID    GUID
	Parts       [4]Partition // index = number-1
}

// PartitionGUID returns gokrazy's GUID for partition n (0 = the disk):
// 60c24cc1-f3f9-427a-8199-XXXXXXXX00NN with XXXXXXXX = deviceID.
func PartitionGUID(deviceID uint32, n int) GUID {
	return mustGUID(fmt.Sprintf("60c24cc1-f3f9-427a-8199-%08x00%02x", deviceID, n))
}

// NewLayout computes the partitions for board b. Sizes come from the board;
// perm takes what is left before the backup GPT.
func NewLayout(b boards.Board) (Layout, error) {
	if err := b.Validate(); err != nil {
		return Layout{}, err
	}
	l := Layout{
		DiskSectors: uint64(b.DiskMiB) * mib / sectorSize,
		DeviceID:    b.DeviceID,
		DiskGUID:    PartitionGUID(b.DeviceID, 0),
	}
	rootType := TypeRootAMD64
	if b.GOARCH == "arm64" {
		rootType = TypeRootARM64
	}
	sizes := []uint64{uint64(b.BootMiB), uint64(b.RootMiB), uint64(b.RootMiB)}
	types := []GUID{TypeESP, rootType, TypeLinuxData}
	names := []string{"boot", "root-a", "root-b"}
	lba := uint64(firstPartitionLBA)
	for i := range 3 {
		n := sizes[i] * mib / sectorSize
		l.Parts[i] = Partition{Number: i + 1, Name: names[i], Type: types[i], GUID: PartitionGUID(b.DeviceID, i+1), FirstLBA: lba, Sectors: n}
		lba += n
	}
	// The backup GPT (array + header) occupies the last 33 sectors; keep perm
	// 1 MiB aligned in size as well.
	lastUsable := l.DiskSectors - 1 - gptArraySectors - 1
	permSectors := (lastUsable + 1 - lba) / 2048 * 2048
	if permSectors < 64*mib/sectorSize {
		return Layout{}, fmt.Errorf("board %s: no room for perm", b.Name)
	}
	l.Parts[3] = Partition{Number: 4, Name: "perm", Type: TypeLinuxData, GUID: PartitionGUID(b.DeviceID, 4), FirstLBA: lba, Sectors: permSectors}
	return l, nil
}

// RootArgument is the root= kernel argument that selects a root slot
// (PartRootA or PartRootB): the kernel and gokrazy's rootdev both find the
// disk by partition 1's GUID and count on from there.
func (l Layout) RootArgument(part int) string {
	return fmt.Sprintf("root=PARTUUID=%s/PARTNROFF=%d", l.Parts[0].GUID, part-1)
}

// GUID is a GUID in its on-disk (mixed-endian) byte order.
type GUID [16]byte

// ParseGUID parses the canonical text form.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	var raw [16]byte
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("malformed GUID %q", s)
	}
	hex := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:36]
	for i := range 16 {
		var b byte
		for _, c := range hex[2*i : 2*i+2] {
			var v byte
			switch {
			case c >= '0' && c <= '9':
				v = byte(c - '0')
			case c >= 'a' && c <= 'f':
				v = byte(c-'a') + 10
			case c >= 'A' && c <= 'F':
				v = byte(c-'A') + 10
			default:
				return g, fmt.Errorf("malformed GUID %q", s)
			}
			b = b<<4 | v
		}
		raw[i] = b
	}
	// The first three fields are stored little endian.
	binary.LittleEndian.PutUint32(g[0:4], binary.BigEndian.Uint32(raw[0:4]))
	binary.LittleEndian.PutUint16(g[4:6], binary.BigEndian.Uint16(raw[4:6]))
	binary.LittleEndian.PutUint16(g[6:8], binary.BigEndian.Uint16(raw[6:8]))
	copy(g[8:], raw[8:])
	return g, nil
}

func mustGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String returns the canonical lower-case text form.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:4]),
		binary.LittleEndian.Uint16(g[4:6]),
		binary.LittleEndian.Uint16(g[6:8]),
		g[8:10], g[10:16])
}

// Bytes returns the on-disk bytes.
func (g GUID) Bytes() []byte { return g[:] }
