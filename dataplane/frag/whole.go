package frag

import (
	"encoding/binary"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// judgeWhole rebuilds a complete datagram in the scratch buffer, decodes it
// and applies F10: the T rules and the transport checksum (a wrong one is
// FragChecksum: it catches mis-assembly after IP ID wrap-around), then the
// filter.
func (r *Reassembler) judgeWhole(d *datagram, dir packet.Direction, judge Judge) reason.Reason {
	n, rr := r.buildWhole(d)
	if rr != reason.None {
		return rr
	}
	w := &r.whole
	if rr := decodeFrame(w, r.scratch[:n], &r.pol); rr != reason.None {
		return rr
	}
	if rr := checkTransport(w); rr != reason.None {
		if rr == reason.ChecksumInvalid {
			return reason.FragChecksum
		}
		return rr
	}
	if judge == nil {
		return reason.None
	}
	return judge(w, dir)
}

// buildWhole writes the whole datagram into the scratch buffer and returns
// its length. F3 is checked once more on the result: a first fragment whose
// IPv4 options, or IPv6 headers before the fragment header, are longer than
// the other fragments' can push the whole past 65,535 bytes although every
// fragment passed on its own.
func (r *Reassembler) buildWhole(d *datagram) (int, reason.Reason) {
	first := &d.frags[0]
	fd := first.data
	l3, hdrEnd := int(first.l3Off), int(first.hdrEnd)
	total := int(d.total)
	if hdrEnd+total > len(r.scratch) {
		return 0, reason.FragTooLarge
	}
	out := r.scratch
	copy(out, fd[:hdrEnd])
	ip := out[l3:hdrEnd]
	if d.key.v6 {
		payloadLen := hdrEnd - l3 - 40 + total
		if payloadLen > maxDatagram {
			return 0, reason.FragTooLarge
		}
		nh, ok := nextHeaderField(fd, l3, hdrEnd)
		if !ok {
			return 0, reason.IPv6ExtChainInvalid
		}
		out[nh] = fd[hdrEnd] // the fragment header's next header
		binary.BigEndian.PutUint16(ip[4:6], uint16(payloadLen))
	} else {
		ipLen := hdrEnd - l3 + total
		if ipLen > maxDatagram {
			return 0, reason.FragTooLarge
		}
		binary.BigEndian.PutUint16(ip[2:4], uint16(ipLen))
		ip[6] &= 0xc0 // clear MF and the offset; keep the reserved bit and DF
		ip[7] = 0
		ip[10], ip[11] = 0, 0
		binary.BigEndian.PutUint16(ip[10:12], ipv4HeaderChecksum(ip))
	}
	n := hdrEnd
	for i := range d.frags {
		n += copy(out[n:], d.frags[i].payload())
	}
	return n, reason.None
}

// nextHeaderField returns the offset of the next-header byte that names
// the fragment header at fragOff: the IPv6 header's, or that of the last
// extension header before the fragment header.
func nextHeaderField(b []byte, l3, fragOff int) (int, bool) {
	field := l3 + 6
	pos := l3 + 40
	for pos < fragOff {
		if pos+2 > len(b) {
			return 0, false
		}
		hdrLen := (int(b[pos+1]) + 1) * 8
		if b[field] == ipv6AH {
			hdrLen = (int(b[pos+1]) + 2) * 4
		}
		field = pos
		pos += hdrLen
	}
	return field, pos == fragOff
}

func ipv4HeaderChecksum(h []byte) uint16 {
	var sum uint32
	for i := 0; i+1 < len(h); i += 2 {
		sum += uint32(h[i])<<8 | uint32(h[i+1])
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}
