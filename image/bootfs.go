package image

import (
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/filesystem/fat32"

	"github.com/rackwall/rackwall/image/layout"
)

// File is one file placed into a FAT or ext4 partition.
type File struct {
	Path string // slash-separated, absolute
	Data []byte
	Perm os.FileMode // ext4 only; FAT has no permissions
}

// writeBootFS formats p as FAT32 and fills it with files.
//
// Why FAT32 from go-diskfs: UEFI firmware and the Raspberry Pi firmware both
// read it, and go-diskfs writes it reproducibly (fixed volume id). gokrazy's
// own in-place cmdline.txt editor and its /update/boot handler need a FAT16
// with a single FAT and lowercase short names, which go-diskfs does not
// write; rackwall does not use those (its A/B scheme rewrites whole files
// through the mounted boot partition), so nothing is lost.
func writeBootFS(st backend.Storage, rw io.ReaderAt, w io.WriterAt, p layout.Partition, files []File, mtime time.Time) error {
	fs, err := fat32.Create(st, p.Size(), p.Offset(), layout.SectorSize, "RACKWALL", true)
	if err != nil {
		return fmt.Errorf("boot partition: %w", err)
	}
	sorted := append([]File(nil), files...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Path < sorted[j].Path })
	made := map[string]bool{"/": true}
	for _, f := range sorted {
		dir := path.Dir(f.Path)
		if !made[dir] {
			if err := fs.Mkdir(dir); err != nil {
				return fmt.Errorf("boot partition: mkdir %s: %w", dir, err)
			}
			for d := dir; d != "/"; d = path.Dir(d) {
				made[d] = true
			}
		}
		w, err := fs.OpenFile(f.Path, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return fmt.Errorf("boot partition: %s: %w", f.Path, err)
		}
		if _, err := w.Write(f.Data); err != nil {
			w.Close()
			return fmt.Errorf("boot partition: writing %s: %w", f.Path, err)
		}
		if err := w.Close(); err != nil {
			return fmt.Errorf("boot partition: %s: %w", f.Path, err)
		}
	}
	// Directories get go-diskfs's clock when made; pin them (and the files)
	// to the build time.
	var stamped []string
	for p := range made {
		if p != "/" {
			stamped = append(stamped, p)
		}
	}
	for _, f := range sorted {
		stamped = append(stamped, f.Path)
	}
	sort.Strings(stamped)
	for _, p := range stamped {
		if err := fs.Chtimes(p, mtime, mtime, mtime); err != nil {
			return fmt.Errorf("boot partition: %s: %w", p, err)
		}
	}
	return pinFATTimes(rw, w, p.Offset(), mtime)
}
