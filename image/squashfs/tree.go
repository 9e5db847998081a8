// Package squashfs writes and reads the subset of squashfs 4.0 the rackwall
// root file system needs: zlib compression, 128 KiB blocks, no fragments, no
// extended attributes, everything owned by root, and only directories,
// regular files and symlinks.
//
// go-diskfs can write squashfs but not symlinks, and the root tree needs
// them (/var, /etc/resolv.conf), so the writer lives here. Output depends
// only on the tree and the timestamp: entries are sorted and zlib output is
// deterministic, which keeps images reproducible.
package squashfs

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// Node is one entry of the tree to write. Exactly one of the kinds applies:
// a directory has Children (possibly none) and IsDir set, a symlink has
// Target, anything else is a regular file holding Data.
type Node struct {
	Name     string
	Perm     fs.FileMode // permission bits only
	IsDir    bool
	Children []*Node
	Target   string
	Data     []byte
}

// NewTree returns an empty root directory (mode 0755).
func NewTree() *Node { return &Node{IsDir: true, Perm: 0o755} }

// IsSymlink reports whether n is a symbolic link.
func (n *Node) IsSymlink() bool { return !n.IsDir && n.Target != "" }

// Lookup returns the node at the slash-separated path p, or nil.
func (n *Node) Lookup(p string) *Node {
	cur := n
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		if !cur.IsDir {
			return nil
		}
		var next *Node
		for _, c := range cur.Children {
			if c.Name == part {
				next = c
				break
			}
		}
		if next == nil {
			return nil
		}
		cur = next
	}
	return cur
}

// MkdirAll creates the directory p (and its parents) with mode 0755 and
// returns it. It fails if a path element exists and is not a directory.
func (n *Node) MkdirAll(p string) (*Node, error) {
	cur := n
	for _, part := range strings.Split(strings.Trim(path.Clean("/"+p), "/"), "/") {
		if part == "" {
			continue
		}
		var next *Node
		for _, c := range cur.Children {
			if c.Name == part {
				next = c
				break
			}
		}
		if next == nil {
			next = &Node{Name: part, IsDir: true, Perm: 0o755}
			cur.Children = append(cur.Children, next)
		} else if !next.IsDir {
			return nil, fmt.Errorf("squashfs: %s: %q is not a directory", p, part)
		}
		cur = next
	}
	return cur, nil
}

// add places a new node at p; the parent directories are created.
func (n *Node) add(p string, child *Node) error {
	dir, base := path.Split(path.Clean("/" + p))
	if base == "" || base == "." || base == ".." {
		return fmt.Errorf("squashfs: invalid path %q", p)
	}
	d, err := n.MkdirAll(dir)
	if err != nil {
		return err
	}
	for _, c := range d.Children {
		if c.Name == base {
			return fmt.Errorf("squashfs: %s already exists", p)
		}
	}
	child.Name = base
	d.Children = append(d.Children, child)
	return nil
}

// AddFile adds a regular file at p with the given permissions.
func (n *Node) AddFile(p string, perm fs.FileMode, data []byte) error {
	return n.add(p, &Node{Perm: perm & fs.ModePerm, Data: data})
}

// AddSymlink adds a symbolic link at p pointing to target.
func (n *Node) AddSymlink(p, target string) error {
	if target == "" {
		return fmt.Errorf("squashfs: symlink %s has an empty target", p)
	}
	return n.add(p, &Node{Perm: 0o777, Target: target})
}

// sortedChildren returns the children ordered by name, as squashfs
// directory listings must be.
func (n *Node) sortedChildren() []*Node {
	c := append([]*Node(nil), n.Children...)
	sort.Slice(c, func(i, j int) bool { return c[i].Name < c[j].Name })
	return c
}
