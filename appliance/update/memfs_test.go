package update

import (
	"errors"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// memFS is an in-memory BootFS whose power can be cut: after cutAfter
// successful changes, every further change fails and is lost, like a box
// losing power between two atomic file operations.
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
	if err := m.change(); err != nil {
		return err
	}
	m.files[path.Clean(name)] = append([]byte(nil), data...)
	return nil
}

func (m *memFS) Rename(from, to string) error {
	b, ok := m.files[from]
	if !ok {
		return fs.ErrNotExist
	}
	if err := m.change(); err != nil {
		return err
	}
	delete(m.files, from)
	m.files[to] = b
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
