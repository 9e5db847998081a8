package image

import (
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"sort"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/ext4"
	"github.com/google/uuid"

	"github.com/rackwall/rackwall/image/layout"
)

// writePermFS creates the ext4 perm file system in p holding files (the
// box's initial state). Nobody formats perm on the device: gokrazy tries
// ext4, then vfat, and carries on read-only if both fail.
//
// go-diskfs draws the file system UUID and the directory hash seed from
// crypto/rand and stamps time.Now() into the superblocks and inodes. For a
// reproducible image the random values come from a generator seeded with the
// device id, and pinTimes afterwards sets every timestamp to mtime.
func writePermFS(st backend.Storage, rw io.ReaderAt, w io.WriterAt, p layout.Partition, deviceID uint32, files []File, mtime uint32) error {
	var seed [32]byte
	binary.LittleEndian.PutUint32(seed[:], deviceID)
	copy(seed[4:], "rackwall perm file system")
	rng := rand.NewChaCha8(seed)
	fsUUID, err := uuid.NewRandomFromReader(rng)
	if err != nil {
		return err
	}
	// uuid.SetRand is process-global; the builder makes one image at a time.
	uuid.SetRand(rng)
	fs, err := ext4.Create(st, p.Size(), p.Offset(), layout.SectorSize, &ext4.Params{
		UUID:       &fsUUID,
		VolumeName: "perm",
		// e2fsck rejects the resize inode go-diskfs writes; perm never grows.
		Features: []ext4.FeatureOpt{ext4.WithFeatureReservedGDTBlocksForExpansion(false)},
	})
	uuid.SetRand(nil)
	if err != nil {
		return fmt.Errorf("perm partition: %w", err)
	}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	made := map[string]bool{".": true}
	for _, f := range sorted {
		rel := f.Path[1:] // go-diskfs ext4 wants relative paths
		dir := path.Dir(rel)
		if !made[dir] {
			if err := fs.Mkdir(dir); err != nil {
				return fmt.Errorf("perm partition: mkdir %s: %w", dir, err)
			}
			for d := dir; d != "."; d = path.Dir(d) {
				made[d] = true
			}
		}
		fw, err := fs.OpenFile(rel, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("perm partition: %s: %w", f.Path, err)
		}
		if _, err := fw.Write(f.Data); err != nil {
			fw.Close()
			return fmt.Errorf("perm partition: writing %s: %w", f.Path, err)
		}
		if err := fw.Close(); err != nil {
			return fmt.Errorf("perm partition: %s: %w", f.Path, err)
		}
		if err := fs.Chmod(rel, f.Perm); err != nil {
			return fmt.Errorf("perm partition: chmod %s: %w", f.Path, err)
		}
	}
	return pinTimes(rw, w, p.Offset(), mtime)
}

// pinTimes sets every timestamp of the ext4 file system at off — superblock
// copies and all in-use inodes — to t, and clears the sub-second parts. It
// supports what go-diskfs writes: no metadata_csum (nothing to re-checksum)
// and no gdt_csum.
func pinTimes(r io.ReaderAt, w io.WriterAt, off int64, t uint32) error {
	sb := make([]byte, 1024)
	if _, err := r.ReadAt(sb, off+1024); err != nil {
		return err
	}
	le := binary.LittleEndian
	if le.Uint16(sb[56:]) != 0xef53 {
		return fmt.Errorf("perm partition: no ext4 superblock")
	}
	const (
		roCompatGDTCsum  = 0x10
		roCompatMetaCsum = 0x400
		incompat64Bit    = 0x80
	)
	if ro := le.Uint32(sb[100:]); ro&(roCompatGDTCsum|roCompatMetaCsum) != 0 {
		return fmt.Errorf("perm partition: checksummed metadata (ro_compat %#x) is not supported", ro)
	}
	blockSize := int64(1024) << le.Uint32(sb[24:])
	firstData := int64(le.Uint32(sb[20:]))
	blocksPerGroup := int64(le.Uint32(sb[32:]))
	inodesPerGroup := int64(le.Uint32(sb[40:]))
	inodeSize := int64(le.Uint16(sb[88:]))
	blocks := int64(le.Uint32(sb[4:]))
	incompat := le.Uint32(sb[96:])
	if incompat&incompat64Bit != 0 {
		blocks |= int64(le.Uint32(sb[336:])) << 32
	}
	groups := (blocks - firstData + blocksPerGroup - 1) / blocksPerGroup
	descSize := int64(32)
	if incompat&incompat64Bit != 0 {
		descSize = int64(le.Uint16(sb[254:]))
	}

	stamp := func(b []byte, offs ...int) {
		for _, o := range offs {
			le.PutUint32(b[o:], t)
		}
	}
	// Superblock copies: the primary, and a backup at the start of every
	// sparse_super backup group (0, 1 and powers of 3, 5 and 7).
	for g := int64(0); g < groups; g++ {
		if !hasBackupSuperblock(g) {
			continue
		}
		at := off + (firstData+g*blocksPerGroup)*blockSize
		if g == 0 {
			at = off + 1024
		}
		s := make([]byte, 1024)
		if _, err := r.ReadAt(s, at); err != nil {
			return err
		}
		if le.Uint16(s[56:]) != 0xef53 {
			continue
		}
		stamp(s, 44, 48, 64, 264) // mount, write, last check, mkfs time
		if _, err := w.WriteAt(s, at); err != nil {
			return err
		}
	}

	// Inodes: walk every group's inode table.
	gdt := make([]byte, groups*descSize)
	if _, err := r.ReadAt(gdt, off+(firstData+1)*blockSize); err != nil {
		return err
	}
	table := make([]byte, inodesPerGroup*inodeSize)
	for g := int64(0); g < groups; g++ {
		d := gdt[g*descSize : (g+1)*descSize]
		const inodeUninit = 0x1
		if le.Uint16(d[18:])&inodeUninit != 0 {
			continue
		}
		loc := int64(le.Uint32(d[8:]))
		if descSize >= 64 {
			loc |= int64(le.Uint32(d[40:])) << 32
		}
		at := off + loc*blockSize
		if _, err := r.ReadAt(table, at); err != nil {
			return err
		}
		changed := false
		for i := int64(0); i < inodesPerGroup; i++ {
			ino := table[i*inodeSize : (i+1)*inodeSize]
			if le.Uint16(ino[0:]) == 0 && le.Uint16(ino[26:]) == 0 {
				continue // never used
			}
			stamp(ino, 8, 12, 16) // atime, ctime, mtime
			// go-diskfs fills the inode checksum even without metadata_csum,
			// computed over the unpinned times; without the feature the
			// field means nothing, so clear it.
			le.PutUint16(ino[0x7c:], 0)
			if inodeSize > 128 {
				extra := int(le.Uint16(ino[128:]))
				for _, f := range []struct{ off, end int }{{132, 136}, {136, 140}, {140, 144}, {148, 152}} {
					if 128+extra >= f.end {
						le.PutUint32(ino[f.off:], 0) // ctime/mtime/atime/crtime extra: epoch bits and nanoseconds
					}
				}
				if 128+extra >= 0x84 {
					le.PutUint16(ino[0x82:], 0) // checksum, high half
				}
				if 128+extra >= 148 {
					le.PutUint32(ino[144:], t) // crtime
				}
			}
			changed = true
		}
		if changed {
			if _, err := w.WriteAt(table, at); err != nil {
				return err
			}
		}
	}
	return nil
}

// hasBackupSuperblock reports whether group g holds a superblock copy under
// sparse_super.
func hasBackupSuperblock(g int64) bool {
	if g <= 1 {
		return true
	}
	for _, base := range []int64{3, 5, 7} {
		p := base
		for p < g {
			p *= base
		}
		if p == g {
			return true
		}
	}
	return false
}
