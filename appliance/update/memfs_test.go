package update

import (
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// memFS is an in-memory BootFS whose power can be cut: after cutAfter
// successful steps, every further step fails and is lost, like a box
// losing power between two writes to the disk.
//
// The steps are what a FAT file system really does, each durable once
// DirFS has synced it. Creating a file under a new name is one step.
// Replacing an existing file (DirFS.WriteFile's rename over it, or a
// Rename onto an existing name) is not atomic on FAT: the target's
// directory entry is rewritten and its old clusters freed in separate,
// unordered writes, so the model takes the worst case, two steps: the old
// file gone, then the new one there. A Rename to a new name is also two:
// the new directory entry, then the old one removed (both names exist in
// between).
type memFS struct {
	files    map[string][]byte
	changes  int
	cutAfter int // -1: never
}

var errPowerCut = errors.New("power cut")

func newMemFS() *memFS { return &memFS{files: map[string][]byte{}, cutAfter: -1} }

func (m *memFS) clone() *memFS {
	c := newMemFS()
	for k, v := range m.files {
		c.files[k] = append([]byte(nil), v...)
	}
	return c
}

func (m *memFS) change() error {
	if m.cutAfter >= 0 && m.changes >= m.cutAfter {
		return errPowerCut
	}
	m.changes++
	return nil
}

func (m *memFS) ReadDir(dir string) ([]string, error) {
	dir = strings.TrimSuffix(dir, "/") + "/"
	var names []string
	for p := range m.files {
		if rest, ok := strings.CutPrefix(p, dir); ok && !strings.Contains(rest, "/") {
			names = append(names, rest)
		}
	}
	if len(names) == 0 {
		return nil, fs.ErrNotExist
	}
	sort.Strings(names)
	return names, nil
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	b, ok := m.files[path.Clean(name)]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return append([]byte(nil), b...), nil
}

func (m *memFS) WriteFile(name string, data []byte) error {
	name = path.Clean(name)
	if err := m.dropForReplace(name); err != nil {
		return err
	}
	if err := m.change(); err != nil {
		return err
	}
	m.files[name] = append([]byte(nil), data...)
	return nil
}

// dropForReplace is the first half of replacing name, if it exists.
func (m *memFS) dropForReplace(name string) error {
	if _, ok := m.files[name]; !ok {
		return nil
	}
	if err := m.change(); err != nil {
		return err
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) Rename(from, to string) error {
	from, to = path.Clean(from), path.Clean(to)
	b, ok := m.files[from]
	if !ok {
		return fs.ErrNotExist
	}
	if from == to {
		return nil
	}
	if err := m.dropForReplace(to); err != nil {
		return err
	}
	if err := m.change(); err != nil {
		return err
	}
	m.files[to] = b
	if err := m.change(); err != nil {
		return err
	}
	delete(m.files, from)
	return nil
}

func (m *memFS) Remove(name string) error {
	if _, ok := m.files[name]; !ok {
		return nil
	}
	if err := m.change(); err != nil {
		return err
	}
	delete(m.files, name)
	return nil
}

func (m *memFS) names(dir string) []string {
	n, _ := m.ReadDir(dir)
	return n
}
