package packet

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// tcpRaw is a TCP header with the given data offset (in 32-bit words),
// flags and option bytes; the options are padded to the data offset.
func tcpRaw(doff int, flags uint8, opts ...byte) gopacket.Payload {
	b := make([]byte, max(20, doff*4, 20+len(opts)))
	put16(b, 0, 40000)
	put16(b, 2, 443)
	b[12] = byte(doff << 4)
	b[13] = flags
	put16(b, 14, 1024)
	copy(b[20:], opts)
	return b
}

func v4Seg(seg gopacket.Payload, proto layers.IPProtocol) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(proto), seg) }
}

func v6Seg(seg gopacket.Payload, proto layers.IPProtocol) func(testing.TB) []byte {
	return func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(proto), seg) }
}

type transportCase struct {
	name   string
	frame  func(testing.TB) []byte
	verify bool
	want   reason.Reason
}

const ack = TCPFlagACK

func transportCases() []transportCase {
	tcp := layers.IPProtocolTCP
	udpP := layers.IPProtocolUDP
	return []transportCase{
		{name: "tcp syn with options, checksum verified", want: reason.None, verify: true,
			frame: func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(tcp), tcpSYN()) }},
		{name: "tcp over ipv6 ext headers, checksum verified", want: reason.None, verify: true,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), hbhHdr(tcp), tcpACK(), gopacket.Payload("hello"))
			}},
		{name: "T1 data offset 4", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(4, ack), tcp)},
		{name: "T1 data offset 0", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(0, ack), tcp)},
		{name: "T1 data offset past segment", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, ack)[:20], tcp)},
		{name: "T1 segment shorter than 20 bytes", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(5, ack)[:19], tcp)},
		{name: "T1 empty segment", want: reason.TCPHeaderInvalid, frame: v4Seg(nil, tcp)},
		{name: "T1 option length 0", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, ack, 1, 1, 99, 0), tcp)},
		{name: "T1 option length 1", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, ack, 99, 1), tcp)},
		{name: "T1 option past header", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, ack, 1, 99, 4, 0), tcp)},
		{name: "T1 option kind without length", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, ack, 1, 1, 1, 99), tcp)},
		{name: "T1 mss length 3", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, TCPFlagSYN, 2, 3, 5, 0), tcp)},
		{name: "T1 window scale length 4", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(6, TCPFlagSYN, 3, 4, 7, 0), tcp)},
		{name: "T1 sack length 6", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(7, ack, 1, 1, 5, 6, 0, 0, 0, 1), tcp)},
		{name: "T1 timestamp length 8", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(8, ack, 8, 8, 0, 0, 0, 1, 0, 0), tcp)},
		{name: "unknown option of any sane length passes", want: reason.None, frame: v4Seg(tcpRaw(7, ack, 254, 6, 0xf9, 0x89, 1, 2, 0), tcp)},
		{name: "options end at EOL, rest is padding", want: reason.None, frame: v4Seg(tcpRaw(7, ack, 1, 0, 99, 99, 99), tcp)},
		{name: "sack with two blocks", want: reason.None, frame: v4Seg(tcpRaw(10, ack, 1, 1, 5, 18), tcp)},
		{name: "T1 SYN+FIN", want: reason.TCPFlagsInvalid, frame: v4Seg(tcpRaw(5, TCPFlagSYN|TCPFlagFIN), tcp)},
		{name: "T1 SYN+RST", want: reason.TCPFlagsInvalid, frame: v4Seg(tcpRaw(5, TCPFlagSYN|TCPFlagRST|ack), tcp)},
		{name: "T1 FIN without ACK", want: reason.TCPFlagsInvalid, frame: v4Seg(tcpRaw(5, TCPFlagFIN), tcp)},
		{name: "T1 xmas scan", want: reason.TCPFlagsInvalid, frame: v4Seg(tcpRaw(5, TCPFlagFIN|TCPFlagPSH|TCPFlagURG), tcp)},
		{name: "T1 no flags", want: reason.TCPFlagsInvalid, frame: v6Seg(tcpRaw(5, 0), tcp)},
		{name: "T1 header wins over flags", want: reason.TCPHeaderInvalid, frame: v4Seg(tcpRaw(4, 0), tcp)},
		{name: "FIN+ACK", want: reason.None, frame: v4Seg(tcpRaw(5, TCPFlagFIN|ack), tcp)},
		{name: "RST alone", want: reason.None, frame: v4Seg(tcpRaw(5, TCPFlagRST), tcp)},
		{name: "SYN+ACK with ECN", want: reason.None, frame: v4Seg(tcpRaw(5, TCPFlagSYN|ack|TCPFlagECE), tcp)},
		{name: "T2 udp length 7", want: reason.UDPLengthInvalid, frame: v4Seg(gopacket.Payload{0, 53, 0, 53, 0, 7, 0, 0}, udpP)},
		{name: "T2 udp length above bytes present", want: reason.UDPLengthInvalid, frame: v4Seg(gopacket.Payload{0, 53, 0, 53, 0, 12, 0, 0, 1, 2, 3}, udpP)},
		{name: "T2 udp length below bytes present", want: reason.UDPLengthInvalid, frame: v6Seg(gopacket.Payload{0, 53, 0, 53, 0, 9, 0, 0, 1, 2, 3}, udpP)},
		{name: "T2 udp header cut", want: reason.UDPLengthInvalid, frame: v4Seg(gopacket.Payload{0, 53, 0, 53, 0, 5}, udpP)},
		{name: "udp length exact, checksum none", want: reason.None, verify: true, frame: v4Seg(gopacket.Payload{0, 53, 0, 53, 0, 9, 0, 0, 1}, udpP)},
		{name: "T2 icmp 7 bytes", want: reason.ICMPTooShort, frame: v4Seg(gopacket.Payload{8, 0, 0, 0, 0, 1, 0}, layers.IPProtocolICMPv4)},
		{name: "T2 icmpv6 empty", want: reason.ICMPTooShort, frame: v6Seg(nil, layers.IPProtocolICMPv6)},
		{name: "T2 icmpv6 atomic fragment with 1 byte", want: reason.ICMPTooShort,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(layers.IPProtocolICMPv6, 0, false, 5), gopacket.Payload{128})
			}},
		{name: "T1 tcp atomic fragment empty", want: reason.TCPHeaderInvalid,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(tcp, 0, false, 5))
			}},
		{name: "fragments are not judged", want: reason.None, verify: true,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(tcp, 0, true, 5), tcpRaw(5, 0), gopacket.Payload(make([]byte, 8)))
			}},
		{name: "icmp echo checksum verified", want: reason.None, verify: true,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp4Echo(), gopacket.Payload("abcdefg"))
			}},
		{name: "icmpv6 echo checksum verified", want: reason.None, verify: true,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), icmp6Echo(), gopacket.Payload("abcdefg"))
			}},
		{name: "udp over ipv6 checksum verified", want: reason.None, verify: true,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(udpP), udp(), gopacket.Payload("odd"))
			}},
		{name: "udp over ipv6 without checksum", want: reason.ChecksumInvalid, verify: true,
			frame: v6Seg(gopacket.Payload{0, 53, 0, 53, 0, 9, 0, 0, 1}, udpP)},
		{name: "sctp has no T rule", want: reason.None, verify: true,
			frame: v4Seg(gopacket.Payload{0, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0}, layers.IPProtocolSCTP)},
	}
}

func TestCheckTransportRules(t *testing.T) {
	var f Frame
	p := defaultPolicy()
	for _, c := range transportCases() {
		t.Run(c.name, func(t *testing.T) {
			b := c.frame(t)
			if r := f.Decode(b, p); r != reason.None {
				t.Fatalf("Decode = %v, want none", r)
			}
			if got := CheckTransport(&f, c.verify); got != c.want {
				t.Fatalf("CheckTransport = %v (%s), want %v (%s)", got, got.Rule(), c.want, c.want.Rule())
			}
		})
	}
}

// TestCheckTransportChecksum flips one bit in each checksummed part of a
// segment (pseudo header address, header, payload) and expects the
// verifier to notice only when asked to.
func TestCheckTransportChecksum(t *testing.T) {
	p := defaultPolicy()
	frames := map[string][]byte{
		"tcp4":   frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(), gopacket.Payload("payload!")),
		"tcp6":   frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcpACK(), gopacket.Payload("payload!")),
		"udp4":   frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), gopacket.Payload("payload!")),
		"udp6":   frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), gopacket.Payload("payload!")),
		"icmp4":  frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp4Echo(), gopacket.Payload("payload!")),
		"icmpv6": frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), icmp6Echo(), gopacket.Payload("payload!")),
	}
	for name, b := range frames {
		t.Run(name, func(t *testing.T) {
			var f Frame
			if r := f.Decode(b, p); r != reason.None {
				t.Fatalf("Decode = %v", r)
			}
			if r := CheckTransport(&f, true); r != reason.None {
				t.Fatalf("valid frame: %v", r)
			}
			for _, pos := range []int{f.L4Off + 1, f.L4Off + 9, f.L3End - 1} {
				b[pos] ^= 0x10
				if r := CheckTransport(&f, true); r != reason.ChecksumInvalid {
					t.Errorf("byte %d flipped: %v, want checksum_invalid", pos, r)
				}
				if r := CheckTransport(&f, false); r != reason.None {
					t.Errorf("byte %d flipped, no verification: %v", pos, r)
				}
				b[pos] ^= 0x10
			}
			// The pseudo header covers the destination address for all but ICMP.
			dst := f.L3Off + 16
			if f.IPVersion == 6 {
				dst = f.L3Off + 24
			}
			b[dst] ^= 0x01
			var g Frame
			if r := g.Decode(b, p); r != reason.None && r != reason.IPChecksumInvalid {
				t.Fatalf("Decode after address change: %v", r)
			}
			want := reason.ChecksumInvalid
			if name == "icmp4" {
				want = reason.None
			}
			if g.IPVersion == 4 {
				SetIPv4HeaderChecksum(b[g.L3Off : g.L3Off+g.IPHdrLen])
				g.Decode(b, p)
			}
			if r := CheckTransport(&g, true); r != want {
				t.Errorf("destination changed: %v, want %v", r, want)
			}
		})
	}
}
