package dataplane

import (
	"encoding/binary"
	"net/netip"

	"github.com/rackwall/rackwall/dataplane/packet"
)

// Frame builders for the engine tests: real, valid Ethernet frames with
// correct checksums unless a test breaks one on purpose.

var (
	macRack   = [6]byte{0x02, 0, 0, 0, 0, 0x01}
	macUplink = [6]byte{0x02, 0, 0, 0, 0, 0x02}
)

func ethHeader(dst, src [6]byte, ethertype uint16) []byte {
	b := make([]byte, 14, 1600)
	copy(b[0:], dst[:])
	copy(b[6:], src[:])
	binary.BigEndian.PutUint16(b[12:], ethertype)
	return b
}

// ipv4Header returns a 20-byte IPv4 header with its checksum set.
func ipv4Header(src, dst netip.Addr, proto uint8, id uint16, fragOff int, more bool, payloadLen int) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+payloadLen))
	binary.BigEndian.PutUint16(h[4:], id)
	ff := uint16(fragOff / 8)
	if more {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], ff)
	h[8] = 64
	h[9] = proto
	s4, d4 := src.As4(), dst.As4()
	copy(h[12:], s4[:])
	copy(h[16:], d4[:])
	packet.SetIPv4HeaderChecksum(h)
	return h
}

// udpSegment returns a UDP header and payload with the checksum set.
func udpSegment(src, dst netip.Addr, sport, dport uint16, payload []byte) []byte {
	seg := make([]byte, 8+len(payload))
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	copy(seg[8:], payload)
	binary.BigEndian.PutUint16(seg[6:], packet.TransportChecksum(src, dst, packet.ProtoUDP, seg))
	return seg
}

// tcpSegment returns a 20-byte TCP header with the given flags, checksum set.
func tcpSegment(src, dst netip.Addr, sport, dport uint16, flags uint8, payload []byte) []byte {
	seg := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	binary.BigEndian.PutUint32(seg[4:], 1000)
	seg[12] = 5 << 4
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], 65535)
	copy(seg[20:], payload)
	binary.BigEndian.PutUint16(seg[16:], packet.TransportChecksum(src, dst, packet.ProtoTCP, seg))
	return seg
}

func udp4Frame(src, dst string, sport, dport uint16, payload []byte) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	seg := udpSegment(s, d, sport, dport, payload)
	f := ethHeader(macUplink, macRack, packet.EtherTypeIPv4)
	f = append(f, ipv4Header(s, d, packet.ProtoUDP, 1, 0, false, len(seg))...)
	return append(f, seg...)
}

func tcp4Frame(src, dst string, sport, dport uint16, flags uint8) []byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	seg := tcpSegment(s, d, sport, dport, flags, nil)
	f := ethHeader(macUplink, macRack, packet.EtherTypeIPv4)
	f = append(f, ipv4Header(s, d, packet.ProtoTCP, 1, 0, false, len(seg))...)
	return append(f, seg...)
}

// udp4Fragments splits one UDP datagram into IPv4 fragments of fragLen
// payload bytes (a multiple of 8) and returns them in offset order.
func udp4Fragments(src, dst string, id uint16, payload []byte, fragLen int) [][]byte {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	seg := udpSegment(s, d, 4000, 5000, payload)
	var out [][]byte
	for off := 0; off < len(seg); off += fragLen {
		end := min(off+fragLen, len(seg))
		f := ethHeader(macUplink, macRack, packet.EtherTypeIPv4)
		f = append(f, ipv4Header(s, d, packet.ProtoUDP, id, off, end < len(seg), end-off)...)
		out = append(out, append(f, seg[off:end]...))
	}
	return out
}

func arpFrame() []byte {
	f := ethHeader([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, macRack, packet.EtherTypeARP)
	arp := []byte{0, 1, 8, 0, 6, 4, 0, 1}
	arp = append(arp, macRack[:]...)
	arp = append(arp, 192, 0, 2, 1)
	arp = append(arp, 0, 0, 0, 0, 0, 0)
	arp = append(arp, 192, 0, 2, 2)
	return append(f, arp...)
}
