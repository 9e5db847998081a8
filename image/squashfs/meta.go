package squashfs

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
)

// metaWriter packs a stream of inodes (or directory listings, or ids) into
// metadata blocks: 8 KiB of payload each, zlib-compressed when that helps,
// preceded by a 2-byte length header. Positions handed out are references
// in squashfs terms: the compressed offset of the block's start within the
// table, and the offset inside the uncompressed block.
type metaWriter struct {
	out     bytes.Buffer // finished blocks
	cur     []byte       // payload of the block being filled
	written int          // uncompressed bytes written so far
}

// pos returns the reference of the next byte written.
func (m *metaWriter) pos() (block uint32, offset uint16) {
	return uint32(m.out.Len()), uint16(len(m.cur))
}

// ref returns pos as the 48-bit inode reference used in superblocks.
func (m *metaWriter) ref() uint64 {
	b, o := m.pos()
	return uint64(b)<<16 | uint64(o)
}

func (m *metaWriter) write(p []byte) {
	for len(p) > 0 {
		n := min(metadataSize-len(m.cur), len(p))
		m.cur = append(m.cur, p[:n]...)
		m.written += n
		p = p[n:]
		if len(m.cur) == metadataSize {
			m.flush()
		}
	}
}

func (m *metaWriter) le(v ...any) {
	var b bytes.Buffer
	for _, x := range v {
		binary.Write(&b, binary.LittleEndian, x) // bytes.Buffer never fails
	}
	m.write(b.Bytes())
}

// flush closes the current block.
func (m *metaWriter) flush() {
	if len(m.cur) == 0 {
		return
	}
	payload, compressed := compress(m.cur)
	hdr := uint16(len(payload))
	if !compressed {
		hdr |= metaUncompressed
	}
	binary.Write(&m.out, binary.LittleEndian, hdr)
	m.out.Write(payload)
	m.cur = m.cur[:0]
}

// compress zlib-compresses p and returns the result if it is smaller,
// otherwise p itself and false (squashfs stores such blocks raw).
func compress(p []byte) ([]byte, bool) {
	var b bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&b, zlib.DefaultCompression) // level is valid
	zw.Write(p)
	zw.Close()
	if b.Len() >= len(p) {
		return p, false
	}
	return b.Bytes(), true
}
