package update

import (
	"errors"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// BootFS is the boot partition as the state machine sees it. Paths are
// slash-separated and absolute ("/loader/entries/rackwall-a.conf").
// WriteFile must be atomic (a reader sees the old content or the new, never
// a mix) and durable when it returns; Rename and Remove must be durable when
// they return. On the box a mounted FAT file system gives that with
// temp-file + fsync + rename + directory fsync.
type BootFS interface {
	ReadDir(dir string) ([]string, error) // file names, sorted
	ReadFile(name string) ([]byte, error)
	WriteFile(name string, data []byte) error
	Rename(from, to string) error
	Remove(name string) error // removing a missing file is not an error
}

// DirFS is a BootFS over a directory, normally the mounted boot partition.
type DirFS string

func (d DirFS) path(name string) string {
	return filepath.Join(string(d), filepath.FromSlash(path.Clean("/"+name)))
}

// ReadDir lists the regular files in dir.
func (d DirFS) ReadDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(d.path(dir))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

// ReadFile reads one file.
func (d DirFS) ReadFile(name string) ([]byte, error) { return os.ReadFile(d.path(name)) }

// WriteFile writes a temporary file next to name (with a name no boot
// loader or firmware looks at), syncs it, renames it over name and syncs
// the directory.
func (d DirFS) WriteFile(name string, data []byte) error {
	p := d.path(name)
	dir := filepath.Dir(p)
	if err := mkdirAllSynced(dir); err != nil {
		return err
	}
	// FAT short names: keep the temporary name plain and recognizable.
	tmp := filepath.Join(dir, "rw-tmp.new")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return syncDir(dir)
}

// Rename renames and syncs the directory.
func (d DirFS) Rename(from, to string) error {
	if err := os.Rename(d.path(from), d.path(to)); err != nil {
		return err
	}
	return syncDir(filepath.Dir(d.path(to)))
}

// Remove removes a file; a missing file is fine.
func (d DirFS) Remove(name string) error {
	err := os.Remove(d.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(d.path(name)))
}

// mkdirAllSynced creates dir and any missing parents, syncing each parent
// after a directory is made in it: a kernel written to a slot's fresh
// directory (/b on the first update) is only durable if the directory's
// own entry is.
func mkdirAllSynced(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	parent := filepath.Dir(dir)
	if parent != dir {
		if err := mkdirAllSynced(parent); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	return syncDir(parent)
}

// syncDir makes a directory's entries durable. A variable so tests can see
// which directories were synced.
var syncDir = syncDirFS

func syncDirFS(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	// Some file systems refuse fsync on a directory; the data is then
	// flushed by the unmount that always follows.
	if err := f.Sync(); err != nil && !strings.Contains(err.Error(), "invalid argument") {
		return err
	}
	return nil
}
