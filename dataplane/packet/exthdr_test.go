package packet

import (
	"net"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Raw IPv6 extension headers for tests, as gopacket payloads placed between
// the IPv6 layer and the transport layer.

func hbhHdr(next layers.IPProtocol) gopacket.Payload {
	// Router alert (type 5, 2 bytes) then PadN (type 1, 0 bytes): 8 bytes.
	return gopacket.Payload{byte(next), 0, 5, 2, 0, 0, 1, 0}
}

func dstOptsHdr(next layers.IPProtocol) gopacket.Payload {
	// PadN with 4 bytes of padding: 8 bytes.
	return gopacket.Payload{byte(next), 0, 1, 4, 0, 0, 0, 0}
}

func routingHdr(next layers.IPProtocol, typ, segmentsLeft uint8) gopacket.Payload {
	b := gopacket.Payload{byte(next), 2, typ, segmentsLeft, 0, 0, 0, 0}
	return append(b, net.ParseIP("2001:db8:9::9").To16()...)
}

func fragHdr(next layers.IPProtocol, offset int, more bool, id uint32) gopacket.Payload {
	fo := uint16(offset) &^ 7
	if more {
		fo |= 1
	}
	return gopacket.Payload{byte(next), 0, byte(fo >> 8), byte(fo), byte(id >> 24), byte(id >> 16), byte(id >> 8), byte(id)}
}

func ahHdr(next layers.IPProtocol) gopacket.Payload {
	// 24 bytes: length field (24/4)-2 = 4, SPI, sequence, 12-byte ICV.
	b := gopacket.Payload{byte(next), 4, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}
	return append(b, make([]byte, 12)...)
}

func espHdr() gopacket.Payload {
	return gopacket.Payload{0, 0, 1, 0, 0, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 0}
}
