package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"sort"
)

// Read parses a squashfs image written by Write (zlib, no fragments, no
// xattrs) back into a tree. It exists to check images independently of
// the writer's bookkeeping, and it treats its input as untrusted: every
// offset and size is bounds-checked and loops are cut off.
func Read(img []byte) (*Node, error) {
	r := &reader{img: img}
	if len(img) < superblockSize {
		return nil, fmt.Errorf("squashfs: image too short")
	}
	if err := binary.Read(bytes.NewReader(img), binary.LittleEndian, &r.sb); err != nil {
		return nil, err
	}
	sb := &r.sb
	switch {
	case sb.Magic != magic:
		return nil, fmt.Errorf("squashfs: bad magic %#x", sb.Magic)
	case sb.VersionMajor != 4 || sb.VersionMinor != 0:
		return nil, fmt.Errorf("squashfs: version %d.%d", sb.VersionMajor, sb.VersionMinor)
	case sb.Compressor != compressorZlib:
		return nil, fmt.Errorf("squashfs: compressor %d is not zlib", sb.Compressor)
	case sb.BlockSize != blockSize || sb.BlockLog != blockLog:
		return nil, fmt.Errorf("squashfs: block size %d", sb.BlockSize)
	case sb.Fragments != 0:
		return nil, fmt.Errorf("squashfs: fragments are not supported")
	case sb.BytesUsed > uint64(len(img)):
		return nil, fmt.Errorf("squashfs: %d bytes used but image has %d", sb.BytesUsed, len(img))
	case !(sb.InodeTableStart < sb.DirTableStart && sb.DirTableStart <= sb.IDTableStart && sb.IDTableStart < sb.BytesUsed):
		return nil, fmt.Errorf("squashfs: tables out of order")
	}
	var err error
	if r.inodes, err = r.metadata(sb.InodeTableStart, sb.DirTableStart); err != nil {
		return nil, fmt.Errorf("squashfs: inode table: %w", err)
	}
	if r.dirs, err = r.metadata(sb.DirTableStart, sb.FragTableStart); err != nil {
		return nil, fmt.Errorf("squashfs: directory table: %w", err)
	}
	root, err := r.node(sb.RootInode, 0)
	if err != nil {
		return nil, err
	}
	if !root.IsDir {
		return nil, fmt.Errorf("squashfs: root is not a directory")
	}
	return root, nil
}

type reader struct {
	img    []byte
	sb     superblock
	inodes table
	dirs   table
	budget int // inodes decoded, against reference loops
	data   int // file bytes decoded, against shared-reference blowup
}

// table is a decompressed metadata table with a map from each block's
// compressed offset to its uncompressed offset.
type table struct {
	data   []byte
	blocks map[uint32]int
}

func (r *reader) metadata(start, end uint64) (table, error) {
	t := table{blocks: map[uint32]int{}}
	if end > uint64(len(r.img)) || start > end {
		return t, fmt.Errorf("bad bounds %d..%d", start, end)
	}
	for pos := start; pos < end; {
		if pos+2 > end {
			return t, fmt.Errorf("truncated block header at %d", pos)
		}
		hdr := binary.LittleEndian.Uint16(r.img[pos:])
		size := uint64(hdr &^ metaUncompressed)
		if size == 0 || size > metadataSize || pos+2+size > end {
			return t, fmt.Errorf("bad block size %d at %d", size, pos)
		}
		payload := r.img[pos+2 : pos+2+size]
		t.blocks[uint32(pos-start)] = len(t.data)
		if hdr&metaUncompressed != 0 {
			t.data = append(t.data, payload...)
		} else {
			out, err := inflate(payload, metadataSize)
			if err != nil {
				return t, fmt.Errorf("block at %d: %w", pos, err)
			}
			t.data = append(t.data, out...)
		}
		pos += 2 + size
	}
	return t, nil
}

func inflate(p []byte, limit int) ([]byte, error) {
	zr, err := zlib.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(out) > limit {
		return nil, fmt.Errorf("block inflates beyond %d bytes", limit)
	}
	return out, nil
}

// at resolves a (block, offset) reference into the table, returning the
// bytes from there on.
func (t table) at(block uint32, offset uint16) ([]byte, error) {
	base, ok := t.blocks[block]
	if !ok || base+int(offset) > len(t.data) {
		return nil, fmt.Errorf("squashfs: bad reference %d:%d", block, offset)
	}
	return t.data[base+int(offset):], nil
}

type cursor struct {
	b   []byte
	err error
}

func (c *cursor) u16() uint16 {
	if c.err != nil || len(c.b) < 2 {
		c.err = io.ErrUnexpectedEOF
		return 0
	}
	v := binary.LittleEndian.Uint16(c.b)
	c.b = c.b[2:]
	return v
}

func (c *cursor) u32() uint32 {
	if c.err != nil || len(c.b) < 4 {
		c.err = io.ErrUnexpectedEOF
		return 0
	}
	v := binary.LittleEndian.Uint32(c.b)
	c.b = c.b[4:]
	return v
}

func (c *cursor) bytes(n int) []byte {
	if c.err != nil || n < 0 || len(c.b) < n {
		c.err = io.ErrUnexpectedEOF
		return nil
	}
	v := c.b[:n]
	c.b = c.b[n:]
	return v
}

// node decodes the inode at ref (and, for a directory, everything below).
func (r *reader) node(ref uint64, depth int) (*Node, error) {
	if depth > 64 {
		return nil, fmt.Errorf("squashfs: directories nested too deep")
	}
	if r.budget++; r.budget > 1<<20 {
		return nil, fmt.Errorf("squashfs: too many inodes")
	}
	b, err := r.inodes.at(uint32(ref>>16), uint16(ref))
	if err != nil {
		return nil, err
	}
	c := &cursor{b: b}
	typ, mode := c.u16(), c.u16()
	uid, gid := c.u16(), c.u16()
	c.u32() // mtime
	c.u32() // inode number
	if c.err != nil {
		return nil, fmt.Errorf("squashfs: truncated inode")
	}
	if uid != 0 || gid != 0 {
		return nil, fmt.Errorf("squashfs: inode owned by id index %d:%d", uid, gid)
	}
	if mode&^0o7777 != 0 {
		return nil, fmt.Errorf("squashfs: inode mode %#o carries type bits", mode)
	}
	n := &Node{Perm: fs.FileMode(mode) & fs.ModePerm}
	switch typ {
	case typeDir, typeLDir:
		var start, size uint32
		var offset uint16
		if typ == typeDir {
			start = c.u32()
			c.u32() // nlink
			size = uint32(c.u16())
			offset = c.u16()
		} else {
			c.u32() // nlink
			size = c.u32()
			start = c.u32()
			c.u32() // parent
			c.u16() // index count
			offset = c.u16()
		}
		if c.err != nil {
			return nil, fmt.Errorf("squashfs: truncated directory inode")
		}
		n.IsDir = true
		if err := r.readDir(n, start, offset, size, depth); err != nil {
			return nil, err
		}
	case typeFile:
		start, frag, _, size := c.u32(), c.u32(), c.u32(), c.u32()
		if c.err != nil {
			return nil, fmt.Errorf("squashfs: truncated file inode")
		}
		if frag != invalidFragment {
			return nil, fmt.Errorf("squashfs: file uses a fragment")
		}
		nblocks := (int(size) + blockSize - 1) / blockSize
		if nblocks > len(c.b)/4 {
			return nil, fmt.Errorf("squashfs: block list beyond the inode table")
		}
		data := make([]byte, 0, min(int(size), len(r.img)))
		pos := uint64(start)
		for i := 0; i < nblocks; i++ {
			word := c.u32()
			bsize := uint64(word &^ dataUncompressed)
			if bsize == 0 || bsize > blockSize || pos+bsize > r.sb.BytesUsed {
				return nil, fmt.Errorf("squashfs: bad data block size %d", bsize)
			}
			chunk := r.img[pos : pos+bsize]
			if word&dataUncompressed == 0 {
				if chunk, err = inflate(chunk, blockSize); err != nil {
					return nil, fmt.Errorf("squashfs: data block: %w", err)
				}
			}
			want := min(blockSize, int(size)-len(data))
			if len(chunk) != want {
				return nil, fmt.Errorf("squashfs: data block holds %d bytes, want %d", len(chunk), want)
			}
			if r.data += len(chunk); r.data > 1<<30 {
				return nil, fmt.Errorf("squashfs: more than 1 GiB of file data")
			}
			data = append(data, chunk...)
			pos += bsize
		}
		n.Data = data
	case typeSymlink:
		c.u32() // nlink
		size := c.u32()
		if size == 0 || size > 4096 {
			return nil, fmt.Errorf("squashfs: bad symlink size %d", size)
		}
		n.Target = string(c.bytes(int(size)))
		if c.err != nil {
			return nil, fmt.Errorf("squashfs: truncated symlink")
		}
	default:
		return nil, fmt.Errorf("squashfs: unsupported inode type %d", typ)
	}
	return n, nil
}

func (r *reader) readDir(n *Node, start uint32, offset uint16, size uint32, depth int) error {
	if size < 3 {
		return fmt.Errorf("squashfs: directory size %d", size)
	}
	if size == 3 {
		return nil // empty: its reference may point past the last listing
	}
	b, err := r.dirs.at(start, offset)
	if err != nil {
		return err
	}
	if int(size-3) > len(b) {
		return fmt.Errorf("squashfs: directory listing beyond the table")
	}
	c := &cursor{b: b[:size-3]}
	for len(c.b) > 0 {
		count, block, _ := c.u32(), c.u32(), c.u32()
		if c.err != nil || count >= maxDirEntries {
			return fmt.Errorf("squashfs: bad directory header")
		}
		for i := uint32(0); i <= count; i++ {
			off := c.u16()
			c.u16() // inode number delta
			c.u16() // type
			nameLen := int(c.u16()) + 1
			name := string(c.bytes(nameLen))
			if c.err != nil {
				return fmt.Errorf("squashfs: truncated directory entry")
			}
			child, err := r.node(uint64(block)<<16|uint64(off), depth+1)
			if err != nil {
				return err
			}
			child.Name = name
			n.Children = append(n.Children, child)
		}
	}
	if !sort.SliceIsSorted(n.Children, func(i, j int) bool { return n.Children[i].Name < n.Children[j].Name }) {
		return fmt.Errorf("squashfs: directory entries out of order")
	}
	return nil
}
