package layout

import (
	"fmt"

	"github.com/rackwall/rackwall/boards"
)

const (
	// SectorSize is the disk's logical sector size in bytes.
	SectorSize = 512
	mib        = 1 << 20
	// FirstPartitionLBA is where gokrazy's layout starts partition 1 (4 MiB).
	FirstPartitionLBA = 8192
	// GPTEntries is the number of 128-byte entries in each partition array.
	GPTEntries = 128
	// GPTArraySectors is the size of one partition array in sectors.
	GPTArraySectors = GPTEntries * 128 / SectorSize
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
func (p Partition) Offset() int64 { return int64(p.FirstLBA) * SectorSize }
func (p Partition) Size() int64   { return int64(p.Sectors) * SectorSize }

// Disk is the partitioning of one board's disk.
type Disk struct {
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

// New computes the partitions for board b. Sizes come from the board;
// perm takes what is left before the backup GPT.
func New(b boards.Board) (Disk, error) {
	if err := b.Validate(); err != nil {
		return Disk{}, err
	}
	l := Disk{
		DiskSectors: uint64(b.DiskMiB) * mib / SectorSize,
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
	lba := uint64(FirstPartitionLBA)
	for i := range 3 {
		n := sizes[i] * mib / SectorSize
		l.Parts[i] = Partition{Number: i + 1, Name: names[i], Type: types[i], GUID: PartitionGUID(b.DeviceID, i+1), FirstLBA: lba, Sectors: n}
		lba += n
	}
	// The backup GPT (array + header) occupies the last 33 sectors; keep perm
	// 1 MiB aligned in size as well.
	lastUsable := l.DiskSectors - 1 - GPTArraySectors - 1
	permSectors := (lastUsable + 1 - lba) / 2048 * 2048
	if permSectors < 64*mib/SectorSize {
		return Disk{}, fmt.Errorf("board %s: no room for perm", b.Name)
	}
	l.Parts[3] = Partition{Number: 4, Name: "perm", Type: TypeLinuxData, GUID: PartitionGUID(b.DeviceID, 4), FirstLBA: lba, Sectors: permSectors}
	return l, nil
}

// RootArgument is the root= kernel argument that selects a root slot
// (PartRootA or PartRootB): the kernel and gokrazy's rootdev both find the
// disk by partition 1's GUID and count on from there.
func (l Disk) RootArgument(part int) string {
	return fmt.Sprintf("root=PARTUUID=%s/PARTNROFF=%d", l.Parts[0].GUID, part-1)
}
