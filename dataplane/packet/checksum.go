package packet

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Internet checksums (RFC 1071) and their incremental update (RFC 1624).
//
// A "sum" here is the ones'-complement sum of 16-bit big-endian words,
// folded to 16 bits but not complemented; a "checksum" is the complement
// of a sum, as stored in a header. Data verifies when the sum over it,
// checksum field included, is 0xffff.

// Sum adds the ones'-complement sum of b to initial and returns it folded
// to 16 bits. b must start at an even offset of the summed data (an odd
// trailing byte is padded with zero, as RFC 1071 says for the end).
func Sum(b []byte, initial uint32) uint32 {
	// Adding 64-bit words with end-around carry is the same ones'-complement
	// sum as adding 16-bit words, since 2^16 ≡ 1 modulo 0xffff, and takes a
	// quarter of the steps.
	acc, carry := uint64(initial), uint64(0)
	for len(b) >= 32 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[8:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[16:]), carry)
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b[24:]), carry)
		b = b[32:]
	}
	for len(b) >= 8 {
		acc, carry = bits.Add64(acc, binary.BigEndian.Uint64(b), carry)
		b = b[8:]
	}
	if len(b) >= 4 {
		acc, carry = bits.Add64(acc, uint64(be32(b, 0)), carry)
		b = b[4:]
	}
	if len(b) >= 2 {
		acc, carry = bits.Add64(acc, uint64(be16(b, 0)), carry)
		b = b[2:]
	}
	if len(b) == 1 {
		acc, carry = bits.Add64(acc, uint64(b[0])<<8, carry)
	}
	acc, carry = bits.Add64(acc, 0, carry)
	acc += carry // cannot overflow again: a wrapped acc is at most 2^64-2
	return uint32(fold(acc))
}

func fold(acc uint64) uint16 {
	acc = acc>>32 + acc&0xffffffff
	for acc > 0xffff {
		acc = acc>>16 + acc&0xffff
	}
	return uint16(acc)
}

// Checksum turns a sum into the value stored in a header.
func Checksum(sum uint32) uint16 {
	return ^fold(uint64(sum))
}

// IPv4HeaderChecksum computes the checksum of an IPv4 header (options
// included), taking its checksum field as zero.
func IPv4HeaderChecksum(hdr []byte) uint16 {
	s := Sum(hdr[:10], 0)
	s = Sum(hdr[12:], s)
	return Checksum(s)
}

// VerifyIPv4HeaderChecksum reports whether an IPv4 header's checksum is
// right.
func VerifyIPv4HeaderChecksum(hdr []byte) bool {
	return Sum(hdr, 0) == 0xffff
}

// SetIPv4HeaderChecksum writes the correct checksum into an IPv4 header.
func SetIPv4HeaderChecksum(hdr []byte) {
	put16(hdr, 10, IPv4HeaderChecksum(hdr))
}

// PseudoHeaderSum is the sum of the IPv4 or IPv6 pseudo header that TCP,
// UDP and ICMPv6 checksums cover: addresses, protocol and upper-layer
// length.
func PseudoHeaderSum(src, dst netip.Addr, proto uint8, length int) uint32 {
	var s uint32
	if src.Is4() && dst.Is4() {
		a, b := src.As4(), dst.As4()
		s = Sum(a[:], 0)
		s = Sum(b[:], s)
	} else {
		a, b := src.As16(), dst.As16()
		s = Sum(a[:], 0)
		s = Sum(b[:], s)
	}
	// The length is 32 bits in the IPv6 pseudo header and 16 in IPv4's;
	// both fold to the same sum.
	return uint32(fold(uint64(s) + uint64(proto) + uint64(length>>16) + uint64(length&0xffff)))
}

// ChecksumOffset returns where the checksum field sits in the transport
// header of proto (TCP 16, UDP 6, ICMP and ICMPv6 2); ok is false for other
// protocols.
func ChecksumOffset(proto uint8) (off int, ok bool) {
	switch proto {
	case ProtoTCP:
		return 16, true
	case ProtoUDP:
		return 6, true
	case ProtoICMP, ProtoICMPv6:
		return 2, true
	}
	return 0, false
}

// usesPseudoHeader reports whether the checksum of proto covers the pseudo
// header: everything but ICMP for IPv4 does.
func usesPseudoHeader(proto uint8) bool {
	return proto != ProtoICMP
}

// TransportChecksum computes the checksum of a TCP, UDP, ICMP or ICMPv6
// segment (header and payload) taking its checksum field as zero. It
// returns 0 for other protocols or a segment too short to hold the field.
func TransportChecksum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	off, ok := ChecksumOffset(proto)
	if !ok || len(seg) < off+2 {
		return 0
	}
	var s uint32
	if usesPseudoHeader(proto) {
		s = PseudoHeaderSum(src, dst, proto, len(seg))
	}
	s = Sum(seg[:off], s)
	s = Sum(seg[off+2:], s)
	return Checksum(s)
}

// VerifyTransportChecksum reports whether the checksum inside a TCP, UDP,
// ICMP or ICMPv6 segment is right. (UDP over IPv4 with checksum 0 carries
// none; callers decide what that means.)
func VerifyTransportChecksum(src, dst netip.Addr, proto uint8, seg []byte) bool {
	off, ok := ChecksumOffset(proto)
	if !ok || len(seg) < off+2 {
		return false
	}
	var s uint32
	if usesPseudoHeader(proto) {
		s = PseudoHeaderSum(src, dst, proto, len(seg))
	}
	return Sum(seg, s) == 0xffff
}

// UpdateChecksum16 returns a header checksum after one 16-bit word it
// covers changed from old to new, without summing the data again (RFC 1624,
// equation 3: HC' = ~(~HC + ~m + m')).
func UpdateChecksum16(csum, old, new uint16) uint16 {
	acc := uint64(^csum) + uint64(^old) + uint64(new)
	return ^fold(acc)
}

// UpdateChecksum32 is UpdateChecksum16 for a 32-bit field at an even
// offset (an IPv4 address, a TCP sequence number).
func UpdateChecksum32(csum uint16, old, new uint32) uint16 {
	csum = UpdateChecksum16(csum, uint16(old>>16), uint16(new>>16))
	return UpdateChecksum16(csum, uint16(old), uint16(new))
}

// finishChecksum stores a computed checksum, writing 0 as 0xffff: the two
// are the same ones'-complement value, and 0 in UDP means "no checksum".
func finishChecksum(b []byte, off int, c uint16) {
	if c == 0 {
		c = 0xffff
	}
	put16(b, off, c)
}

// FinishOffloadChecksum completes a transport checksum a sender left to
// offload (Linux CHECKSUM_PARTIAL, AF_PACKET TP_STATUS_CSUMNOTREADY): the
// field at csumStart+csumOffset holds only the pseudo-header sum, and the
// checksum is the complement of the sum from csumStart to the end of the IP
// packet. The end is read from the frame's IPv4 or IPv6 header (Ethernet
// padding is not summed); a frame whose IP header cannot be read is summed
// to its end. Offsets outside the frame leave it untouched.
func FinishOffloadChecksum(frame []byte, csumStart, csumOffset int) {
	field := csumStart + csumOffset
	if csumStart < 0 || csumOffset < 0 || field+2 > len(frame) {
		return
	}
	end := ipPacketEnd(frame)
	if end < field+2 {
		end = len(frame)
	}
	finishChecksum(frame, field, Checksum(Sum(frame[csumStart:end], 0)))
}

// ipPacketEnd finds where the IP packet in an Ethernet frame ends by its
// own length field, or len(frame) when it cannot tell.
func ipPacketEnd(frame []byte) int {
	if len(frame) < ethHeaderLen {
		return len(frame)
	}
	off := 12
	typ := be16(frame, off)
	for tags := 0; isVLANTPID(typ) && tags < MaxVLANTags && off+6 <= len(frame); tags++ {
		off += 4
		typ = be16(frame, off)
	}
	l3 := off + 2
	var end int
	switch {
	case typ == EtherTypeIPv4 && len(frame)-l3 >= ipv4MinHeaderLen:
		end = l3 + int(be16(frame, l3+2))
	case typ == EtherTypeIPv6 && len(frame)-l3 >= ipv6HeaderLen:
		end = l3 + ipv6HeaderLen + int(be16(frame, l3+4))
	default:
		return len(frame)
	}
	if end > len(frame) {
		return len(frame)
	}
	return end
}

// FixTransportChecksum recomputes the transport checksum of a decoded whole
// packet (TCP, UDP, ICMP, ICMPv6) from scratch and writes it into f.Data.
// Fragments and frames without a complete checksum field are left alone.
func FixTransportChecksum(f *Frame) {
	if f.IPVersion == 0 || f.Fragment || f.L4Off <= 0 || f.L4Off > f.L3End || f.L3End > len(f.Data) {
		return
	}
	seg := f.Data[f.L4Off:f.L3End]
	off, ok := ChecksumOffset(f.Proto)
	if !ok || len(seg) < off+2 {
		return
	}
	finishChecksum(seg, off, TransportChecksum(f.Src, f.Dst, f.Proto, seg))
}
