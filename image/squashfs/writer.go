package squashfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Write writes root as a squashfs 4.0 image to w. Every inode gets mtime
// (seconds since 1970, typically SOURCE_DATE_EPOCH) and owner 0:0.
func Write(w io.Writer, root *Node, mtime uint32) error {
	if root == nil || !root.IsDir {
		return fmt.Errorf("squashfs: root must be a directory")
	}
	sw := &writer{mtime: mtime, numbers: map[*Node]uint32{}}
	sw.data.Write(make([]byte, superblockSize)) // filled in at the end
	if err := sw.number(root); err != nil {
		return err
	}
	rootRef, err := sw.writeDir(root, sw.next+1) // the root's parent is one past the last inode, as mksquashfs does
	if err != nil {
		return err
	}

	inodeTable := uint64(sw.data.Len())
	sw.inodes.flush()
	sw.data.Write(sw.inodes.out.Bytes())
	dirTable := uint64(sw.data.Len())
	sw.dirs.flush()
	sw.data.Write(sw.dirs.out.Bytes())

	// One id (0, root) in one metadata block, then its index.
	idBlock := uint64(sw.data.Len())
	var ids metaWriter
	ids.le(uint32(0))
	ids.flush()
	sw.data.Write(ids.out.Bytes())
	idIndex := uint64(sw.data.Len())
	binary.Write(&sw.data, binary.LittleEndian, idBlock)
	bytesUsed := uint64(sw.data.Len())
	if pad := bytesUsed % 4096; pad != 0 {
		sw.data.Write(make([]byte, 4096-pad))
	}

	img := sw.data.Bytes()
	sb := superblock{
		Magic:           magic,
		Inodes:          sw.next,
		ModTime:         mtime,
		BlockSize:       blockSize,
		Fragments:       0,
		Compressor:      compressorZlib,
		BlockLog:        blockLog,
		Flags:           flagNoFragments | flagNoXattrs,
		IDCount:         1,
		VersionMajor:    4,
		VersionMinor:    0,
		RootInode:       rootRef,
		BytesUsed:       bytesUsed,
		IDTableStart:    idIndex,
		XattrTableStart: invalidBlock,
		InodeTableStart: inodeTable,
		DirTableStart:   dirTable,
		FragTableStart:  idBlock, // an empty fragment table ends where the id table begins
		ExportTable:     invalidBlock,
	}
	var hdr bytes.Buffer
	binary.Write(&hdr, binary.LittleEndian, &sb)
	copy(img, hdr.Bytes())
	_, err = w.Write(img)
	return err
}

// superblock is the 96-byte header at offset 0.
type superblock struct {
	Magic           uint32
	Inodes          uint32
	ModTime         uint32
	BlockSize       uint32
	Fragments       uint32
	Compressor      uint16
	BlockLog        uint16
	Flags           uint16
	IDCount         uint16
	VersionMajor    uint16
	VersionMinor    uint16
	RootInode       uint64
	BytesUsed       uint64
	IDTableStart    uint64
	XattrTableStart uint64
	InodeTableStart uint64
	DirTableStart   uint64
	FragTableStart  uint64
	ExportTable     uint64
}

type writer struct {
	mtime   uint32
	data    bytes.Buffer // superblock placeholder, data blocks, then the tables
	inodes  metaWriter
	dirs    metaWriter
	numbers map[*Node]uint32
	next    uint32 // last inode number handed out
}

// number assigns inode numbers in the order inodes are written: a
// directory's children (depth first) before the directory itself, so the
// root gets the highest number.
func (sw *writer) number(n *Node) error {
	if n.IsDir {
		seen := map[string]bool{}
		for _, c := range n.sortedChildren() {
			if c.Name == "" || c.Name == "." || c.Name == ".." || len(c.Name) > 256 || bytes.ContainsAny([]byte(c.Name), "/\x00") {
				return fmt.Errorf("squashfs: invalid name %q", c.Name)
			}
			if seen[c.Name] {
				return fmt.Errorf("squashfs: duplicate name %q", c.Name)
			}
			seen[c.Name] = true
			if err := sw.number(c); err != nil {
				return err
			}
		}
	}
	sw.next++
	sw.numbers[n] = sw.next
	return nil
}

type dirEntry struct {
	name string
	ref  uint64
	ino  uint32
	typ  uint16
}

// header writes the common inode header. The mode field holds permission
// bits only: Linux rejects inodes whose mode carries file type bits (the
// type comes from the inode type).
func (sw *writer) header(typ uint16, perm uint32, n *Node) {
	sw.inodes.le(typ, uint16(perm), uint16(0), uint16(0), sw.mtime, sw.numbers[n])
}

// writeDir writes everything below n, then n's listing and inode, and
// returns n's inode reference.
func (sw *writer) writeDir(n *Node, parent uint32) (uint64, error) {
	self := sw.numbers[n]
	var ents []dirEntry
	subdirs := uint32(0)
	for _, c := range n.sortedChildren() {
		e := dirEntry{name: c.Name, ino: sw.numbers[c]}
		switch {
		case c.IsDir:
			ref, err := sw.writeDir(c, self)
			if err != nil {
				return 0, err
			}
			e.ref, e.typ = ref, typeDir
			subdirs++
		case c.IsSymlink():
			e.ref, e.typ = sw.inodes.ref(), typeSymlink
			sw.header(typeSymlink, 0o777, c)
			sw.inodes.le(uint32(1), uint32(len(c.Target)))
			sw.inodes.write([]byte(c.Target))
		default:
			ref, err := sw.writeFile(c)
			if err != nil {
				return 0, err
			}
			e.ref, e.typ = ref, typeFile
		}
		ents = append(ents, e)
	}

	// The listing: runs of entries whose inodes share a metadata block.
	startBlock, startOffset := sw.dirs.pos()
	before := sw.dirs.written
	for i := 0; i < len(ents); {
		base := ents[i]
		j := i + 1
		for j < len(ents) && j-i < maxDirEntries &&
			ents[j].ref>>16 == base.ref>>16 &&
			math.Abs(float64(int64(ents[j].ino)-int64(base.ino))) <= math.MaxInt16 {
			j++
		}
		sw.dirs.le(uint32(j-i-1), uint32(base.ref>>16), base.ino)
		for _, e := range ents[i:j] {
			sw.dirs.le(uint16(e.ref&0xffff), int16(int64(e.ino)-int64(base.ino)), e.typ, uint16(len(e.name)-1))
			sw.dirs.write([]byte(e.name))
		}
		i = j
	}
	listing := sw.dirs.written - before
	size := listing + 3 // the kernel counts the implicit "." and ".."

	ref := sw.inodes.ref()
	nlink := 2 + subdirs
	if size <= math.MaxUint16 {
		sw.header(typeDir, uint32(n.Perm.Perm()), n)
		sw.inodes.le(startBlock, nlink, uint16(size), startOffset, parent)
	} else {
		sw.header(typeLDir, uint32(n.Perm.Perm()), n)
		sw.inodes.le(nlink, uint32(size), startBlock, parent, uint16(0), startOffset, invalidFragment)
	}
	return ref, nil
}

// writeFile stores the file's data blocks and writes its inode.
func (sw *writer) writeFile(n *Node) (uint64, error) {
	if len(n.Data) > math.MaxUint32 {
		return 0, fmt.Errorf("squashfs: %s is too large", n.Name)
	}
	start := uint64(sw.data.Len())
	if start > math.MaxUint32 {
		return 0, fmt.Errorf("squashfs: image data beyond 4 GiB is not supported")
	}
	var sizes []uint32
	for off := 0; off < len(n.Data); off += blockSize {
		chunk := n.Data[off:min(off+blockSize, len(n.Data))]
		payload, compressed := compress(chunk)
		size := uint32(len(payload))
		if !compressed {
			size |= dataUncompressed
		}
		sw.data.Write(payload)
		sizes = append(sizes, size)
	}
	ref := sw.inodes.ref()
	sw.header(typeFile, uint32(n.Perm.Perm()), n)
	sw.inodes.le(uint32(start), invalidFragment, uint32(0), uint32(len(n.Data)))
	sw.inodes.le(sizes)
	return ref, nil
}
