package packet

import (
	"net"
	"net/netip"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

type decodeCase struct {
	name   string
	frame  func(t testing.TB) []byte
	policy func(p *config.Policy) // adjusts the default policy
	want   reason.Reason
	check  func(t *testing.T, f *Frame)
}

// edit builds a frame and lets the case damage it on purpose.
func edit(b []byte, fn func(b []byte, ip int)) []byte {
	fn(b, ipOff(b))
	return b
}

var stpBPDU = []byte{
	0x01, 0x80, 0xc2, 0x00, 0x00, 0x00, 0x02, 0, 0, 0, 0, 1, 0x00, 0x26, // 802.3 length 38
	0x42, 0x42, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x02, 0, 0, 0, 0, 1,
	0, 0, 0, 0, 0x80, 0x00, 0x02, 0, 0, 0, 0, 1, 0x80, 0x01, 0, 0, 0x14, 0, 0x02, 0, 0x0f, 0,
	0, 0, 0, 0, 0, 0, 0, 0,
}

func lldpFrame() []byte {
	b := []byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e, 0x02, 0, 0, 0, 0, 1, 0x88, 0xcc}
	return append(b, 0x02, 0x07, 0x04, 0x02, 0, 0, 0, 0, 1, 0x04, 0x02, 0x07, 0x31, 0x06, 0x02, 0x00, 0x78, 0x00, 0x00)
}

func decodeCases() []decodeCase {
	return []decodeCase{
		// ---- valid frames ----
		{name: "ipv4 tcp syn", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpSYN())
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "proto", f.Proto, ProtoTCP)
				expect(t, "L3Off", f.L3Off, 14)
				expect(t, "L4Off", f.L4Off, 34)
				expect(t, "ports", [2]uint16{f.SrcPort, f.DstPort}, [2]uint16{43210, 80})
				expect(t, "flags", f.TCPFlags, TCPFlagSYN)
				expect(t, "src", f.Src, netip.MustParseAddr("192.0.2.1"))
				expect(t, "dst", f.Dst, netip.MustParseAddr("198.51.100.7"))
				expect(t, "ChainComplete", f.ChainComplete, true)
				expect(t, "IPID", f.IPID, uint32(0x1234))
			}},
		{name: "ipv4 udp with ethernet padding", want: reason.None,
			frame: func(t testing.TB) []byte {
				b := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), gopacket.Payload("hi"))
				return append(b, make([]byte, 60-len(b))...) // pad to the Ethernet minimum
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "L3End", f.L3End, 14+20+8+2)
				expect(t, "L4Len", f.L4Len, 10)
				expect(t, "len", len(f.Data), 60)
			}},
		{name: "802.1Q ipv4 icmp echo", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp4Echo(), gopacket.Payload("ping"))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "NumVLAN", f.NumVLAN, 1)
				expect(t, "TPID", f.VLANTPID[0], EtherTypeVLAN)
				expect(t, "VID", f.VLANTCI[0]&0xfff, uint16(6))
				expect(t, "L3Off", f.L3Off, 18)
				expect(t, "ICMP", [2]uint8{f.ICMPType, f.ICMPCode}, [2]uint8{8, 0})
				expect(t, "ICMPID", f.ICMPID, uint16(0x4242))
			}},
		{name: "QinQ 802.1ad+802.1Q ipv6 udp", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeQinQ), dot1q(100, layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), gopacket.Payload("x"))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "NumVLAN", f.NumVLAN, 2)
				expect(t, "TPIDs", f.VLANTPID, [2]uint16{EtherTypeQinQ, EtherTypeVLAN})
				expect(t, "L3Off", f.L3Off, 22)
				expect(t, "EtherType", f.EtherType, EtherTypeIPv6)
				expect(t, "L4Off", f.L4Off, 62)
			}},
		{name: "0x9100 outer tag", want: reason.None,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeQinQ), dot1q(100, layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()),
					func(b []byte, _ int) { put16(b, 12, 0x9100) })
			},
			check: func(t *testing.T, f *Frame) { expect(t, "TPID", f.VLANTPID[0], EtherTypeQinQ1) }},
		{name: "ipv6 hbh+dstopts+routing2+tcp", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop),
					hbhHdr(layers.IPProtocolIPv6Destination), dstOptsHdr(layers.IPProtocolIPv6Routing),
					routingHdr(layers.IPProtocolTCP, 2, 1), tcpACK(), gopacket.Payload("data"))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "proto", f.Proto, ProtoTCP)
				expect(t, "IPHdrLen", f.IPHdrLen, 40+8+8+24)
				expect(t, "L4Off", f.L4Off, 14+40+8+8+24)
				expect(t, "L4Len", f.L4Len, 24)
				expect(t, "ChainComplete", f.ChainComplete, true)
			}},
		{name: "ipv6 AH then udp", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolAH), ahHdr(layers.IPProtocolUDP), udp())
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "proto", f.Proto, ProtoUDP)
				expect(t, "L4Off", f.L4Off, 14+40+24)
			}},
		{name: "ipv6 ESP ends the chain", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), dstOptsHdr(layers.IPProtocolESP), espHdr())
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "proto", f.Proto, ProtoESP)
				expect(t, "ChainComplete", f.ChainComplete, true)
				expect(t, "L4Off", f.L4Off, 0)
			}},
		{name: "ipv6 no next header", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolNoNextHeader))
			},
			check: func(t *testing.T, f *Frame) { expect(t, "proto", f.Proto, ProtoNoNext) }},
		{name: "arp request", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
					HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A,
					DstHwAddress: make([]byte, 6), DstProtAddress: v4B})
			},
			check: func(t *testing.T, f *Frame) { expect(t, "L3End", f.L3End, 14+28) }},
		{name: "stp bpdu passes (link-local)", want: reason.None, frame: func(testing.TB) []byte { return append([]byte(nil), stpBPDU...) }},
		{name: "stp bpdu blocked without pass_link_local", want: reason.EthertypeBlocked,
			frame:  func(testing.TB) []byte { return append([]byte(nil), stpBPDU...) },
			policy: func(p *config.Policy) { p.PassLinkLocal = false }},
		{name: "lldp passes (link-local)", want: reason.None, frame: func(testing.TB) []byte { return lldpFrame() },
			check: func(t *testing.T, f *Frame) { expect(t, "EtherType", f.EtherType, uint16(0x88cc)) }},
		{name: "lldp blocked without pass_link_local", want: reason.EthertypeBlocked, frame: func(testing.TB) []byte { return lldpFrame() },
			policy: func(p *config.Policy) { p.PassLinkLocal = false }},
		{name: "lldp allowed by ethertypes list", want: reason.None, frame: func(testing.TB) []byte { return lldpFrame() },
			policy: func(p *config.Policy) { p.PassLinkLocal = false; p.ExtraEthertypes = []uint16{0x88cc} }},
		{name: "extra ethertype allowed", want: reason.None,
			frame:  func(t testing.TB) []byte { return frameOf(t, eth(0x88b5), gopacket.Payload(make([]byte, 46))) },
			policy: func(p *config.Policy) { p.ExtraEthertypes = []uint16{0x8906, 0x88b5} }},
		{name: "dhcp discover from 0.0.0.0", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.SrcIP, ip.DstIP = net.IPv4zero, net.IPv4bcast
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, &layers.UDP{SrcPort: 68, DstPort: 67}, gopacket.Payload(make([]byte, 240)))
			}},
		{name: "ipv4 record-route option passes by default", want: reason.None,
			frame: func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp()) },
			check: func(t *testing.T, f *Frame) { expect(t, "IPHdrLen", f.IPHdrLen, 28) }},
		{name: "ipv4 lsrr passes under allow", want: reason.None,
			frame:  func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(131), udp()) },
			policy: func(p *config.Policy) { p.IPOptions = config.IPOptionsAllow }},
		{name: "ipv4 first fragment with full tcp header", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolTCP)
				ip.Flags = layers.IPv4MoreFragments
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, tcpSYN(), gopacket.Payload(make([]byte, 4)))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Fragment", f.Fragment, true)
				expect(t, "MoreFrags", f.MoreFrags, true)
				expect(t, "L4Off", f.L4Off, 34)
				expect(t, "ChainComplete", f.ChainComplete, true)
				expect(t, "FragDataOff", f.FragDataOff, 34)
				expect(t, "FragDataLen", f.FragDataLen, 32)
				expect(t, "ports", f.DstPort, uint16(80))
			}},
		{name: "ipv4 first fragment with 8 bytes of tcp", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolTCP)
				ip.Flags = layers.IPv4MoreFragments
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, gopacket.Payload{0xa8, 0xca, 0, 80, 0, 0, 3, 0xe8})
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Fragment", f.Fragment, true)
				expect(t, "L4Off", f.L4Off, 0)
				expect(t, "ChainComplete", f.ChainComplete, false)
				expect(t, "ports", f.DstPort, uint16(0))
			}},
		{name: "ipv4 first fragment tcp missing its options", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolTCP)
				ip.Flags = layers.IPv4MoreFragments
				b := frameOf(t, eth(layers.EthernetTypeIPv4), ip, tcpSYN())
				b = b[:len(b)-8] // 20 of 28 header bytes
				put16(b, 16, 40)
				fixIPv4Checksum(b)
				return b
			},
			check: func(t *testing.T, f *Frame) { expect(t, "L4Off", f.L4Off, 0) }},
		{name: "ipv4 later fragment", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.FragOffset = 185 // 1480 bytes
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, gopacket.Payload(make([]byte, 100)))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Fragment", f.Fragment, true)
				expect(t, "FragOffset", f.FragOffset, 1480)
				expect(t, "MoreFrags", f.MoreFrags, false)
				expect(t, "L4Off", f.L4Off, 0)
				expect(t, "FragDataLen", f.FragDataLen, 100)
			}},
		{name: "ipv4 df set non-fragment", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.Flags = layers.IPv4DontFragment
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, udp())
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "DontFrag", f.DontFrag, true)
				expect(t, "Fragment", f.Fragment, false)
			}},
		{name: "ipv6 first fragment after dstopts", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), hbhHdr(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolIPv6Destination, 0, true, 0xabcdef01), dstOptsHdr(layers.IPProtocolUDP), udp(), gopacket.Payload(make([]byte, 24)))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Fragment", f.Fragment, true)
				expect(t, "Atomic", f.Atomic, false)
				expect(t, "IPID", f.IPID, uint32(0xabcdef01))
				expect(t, "FragHdrOff", f.FragHdrOff, 14+48)
				expect(t, "FragNHOff", f.FragNHOff, 14+40)
				expect(t, "FragNextHeader", f.FragNextHeader, ProtoDstOpts)
				expect(t, "FragDataOff", f.FragDataOff, 14+56)
				expect(t, "FragDataLen", f.FragDataLen, 8+8+24)
				expect(t, "IPHdrLen", f.IPHdrLen, 48)
				expect(t, "proto", f.Proto, ProtoUDP)
				expect(t, "L4Off", f.L4Off, 14+64)
				expect(t, "ChainComplete", f.ChainComplete, true)
			}},
		{name: "ipv6 first fragment with upper header cut", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolICMPv6, 0, true, 7), gopacket.Payload{128, 0, 0, 0})
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Fragment", f.Fragment, true)
				expect(t, "proto", f.Proto, ProtoICMPv6)
				expect(t, "L4Off", f.L4Off, 0)
				expect(t, "ChainComplete", f.ChainComplete, false)
			}},
		{name: "ipv6 later fragment", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolTCP, 1232, true, 7), gopacket.Payload(make([]byte, 64)))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "FragOffset", f.FragOffset, 1232)
				expect(t, "MoreFrags", f.MoreFrags, true)
				expect(t, "proto", f.Proto, ProtoTCP)
				expect(t, "L4Off", f.L4Off, 0)
				expect(t, "ChainComplete", f.ChainComplete, false)
			}},
		{name: "ipv6 atomic fragment is a whole packet", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolTCP, 0, false, 0x1234), tcpACK(), gopacket.Payload("GET /"))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Fragment", f.Fragment, false)
				expect(t, "Atomic", f.Atomic, true)
				expect(t, "L4Off", f.L4Off, 14+48)
				expect(t, "ports", f.DstPort, uint16(80))
			}},
		{name: "ipv6 atomic fragment with empty tcp keeps L4Off for T1", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(layers.IPProtocolTCP, 0, false, 1))
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "Atomic", f.Atomic, true)
				expect(t, "L4Off", f.L4Off, 14+48)
				expect(t, "L4Len", f.L4Len, 0)
				expect(t, "ChainComplete", f.ChainComplete, false)
			}},
		{name: "ipv6 ::1 destination is fine", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip6(layers.IPProtocolUDP)
				ip.DstIP = net.IPv6loopback
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip, udp())
			}},

		// ---- L rules ----
		{name: "L3 shorter than ethernet header", want: reason.FrameTruncated,
			frame: func(testing.TB) []byte { return []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 8} }},
		{name: "L3 empty frame", want: reason.FrameTruncated, frame: func(testing.TB) []byte { return nil }},
		{name: "L3 ipv4 header cut", want: reason.FrameTruncated,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())[:14+19]
			}},
		{name: "L3 ipv4 total length beyond frame", want: reason.FrameTruncated,
			frame: func(t testing.TB) []byte {
				b := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), gopacket.Payload(make([]byte, 100)))
				return b[:len(b)-1]
			}},
		{name: "L3 ipv4 options cut", want: reason.FrameTruncated,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7))[:14+22]
			}},
		{name: "L3 ipv6 header cut", want: reason.FrameTruncated,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp())[:14+39]
			}},
		{name: "L3 ipv6 payload length beyond frame", want: reason.FrameTruncated,
			frame: func(t testing.TB) []byte {
				b := frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), gopacket.Payload("abc"))
				return b[:len(b)-2]
			}},
		{name: "L3 arp cut", want: reason.FrameTruncated,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
					HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A,
					DstHwAddress: make([]byte, 6), DstProtAddress: v4B})[:14+20]
			}},
		{name: "L3 vlan tag cut", want: reason.VLANMalformed,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())[:16]
			}},
		{name: "L3 three vlan tags", want: reason.VLANMalformed,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeQinQ), dot1q(1, layers.EthernetTypeDot1Q), dot1q(2, layers.EthernetTypeDot1Q),
					dot1q(3, layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())
			}},
		{name: "L2 ethertype not allowed", want: reason.EthertypeBlocked,
			frame: func(t testing.TB) []byte { return frameOf(t, eth(0x88b5), gopacket.Payload(make([]byte, 46))) }},
		{name: "L2 ethertype not allowed inside vlan", want: reason.EthertypeBlocked,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, 0x8863), gopacket.Payload(make([]byte, 42)))
			}},
		{name: "L2 802.3 length frame not link-local", want: reason.EthertypeBlocked,
			frame: func(t testing.TB) []byte {
				b := append([]byte(nil), stpBPDU...)
				copy(b, macB)
				return b
			}},
		{name: "L2 arp with ipv6 protocol length", want: reason.ARPMalformed,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
					HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A,
					DstHwAddress: make([]byte, 6), DstProtAddress: v4B}), func(b []byte, ip int) { b[ip+5] = 16 })
			}},
		{name: "L2 arp with 8-byte hardware address", want: reason.ARPMalformed,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
					HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A,
					DstHwAddress: make([]byte, 6), DstProtAddress: v4B}), func(b []byte, ip int) { b[ip+4] = 8 })
			}},

		// ---- H1 ----
		{name: "H1 ipv4 ethertype with version 6", want: reason.IPHeaderInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()), func(b []byte, ip int) { b[ip] = 0x65 })
			}},
		{name: "H1 ipv4 ihl below 5", want: reason.IPHeaderInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()), func(b []byte, ip int) { b[ip] = 0x44 })
			}},
		{name: "H1 ipv4 total length below header", want: reason.IPHeaderInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()), func(b []byte, ip int) {
					put16(b, ip+2, 19)
					fixIPv4Checksum(b)
				})
			}},
		{name: "H1 ipv4 bad header checksum", want: reason.IPChecksumInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()), func(b []byte, ip int) { b[ip+10] ^= 0x40 })
			}},
		{name: "H1 checksum before H2", want: reason.IPChecksumInvalid,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.SrcIP = net.IP{127, 0, 0, 1}
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ip, udp()), func(b []byte, ip int) { b[ip+11] ^= 1 })
			}},
		{name: "H1 ipv6 ethertype with version 4", want: reason.IPHeaderInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp()), func(b []byte, ip int) { b[ip] = 0x45 })
			}},
		{name: "H1 ipv6 ext header runs past packet", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				h := dstOptsHdr(layers.IPProtocolUDP)
				h[1] = 3 // claims 32 bytes
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), h, udp())
			}},
		{name: "H1 ipv6 ext header cut to one byte", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), gopacket.Payload{17})
			}},
		{name: "H1 ipv6 hop-by-hop not first", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), dstOptsHdr(layers.IPProtocolIPv6HopByHop), hbhHdr(layers.IPProtocolUDP), udp())
			}},
		{name: "H1 ipv6 option overruns its header", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				h := dstOptsHdr(layers.IPProtocolUDP)
				h[3] = 5 // PadN of 5 in a 6-byte option area
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), h, udp())
			}},
		{name: "H1 ipv6 option type without its length byte", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				h := gopacket.Payload{17, 0, 1, 3, 0, 0, 0, 0xc2} // PadN of 3, then a lone option type
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), h, udp())
			}},
		{name: "ipv6 pad1 options", want: reason.None,
			frame: func(t testing.TB) []byte {
				h := gopacket.Payload{17, 0, 0, 0, 0, 0, 0, 0}
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), h, udp())
			}},
		{name: "H1 ipv6 AH length too small", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				h := ahHdr(layers.IPProtocolUDP)
				h[1] = 0
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolAH), h, udp())
			}},
		{name: "H1 ipv6 fragment header cut", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), gopacket.Payload{17, 0, 0, 1})
			}},
		{name: "H1 ipv6 first fragment with ext chain cut", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				h := dstOptsHdr(layers.IPProtocolUDP)
				h[1] = 10
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(layers.IPProtocolIPv6Destination, 0, true, 9), h, udp())
			}},

		// ---- H2 ----
		{name: "H2 ipv4 loopback source", want: reason.MartianSource, frame: v4From(net.IP{127, 0, 0, 1}, 1234, 80)},
		{name: "H2 ipv4 this-network source", want: reason.MartianSource, frame: v4From(net.IP{0, 1, 2, 3}, 68, 67)},
		{name: "H2 ipv4 0.0.0.0 not dhcp", want: reason.MartianSource, frame: v4From(net.IP{0, 0, 0, 0}, 1234, 67)},
		{name: "H2 ipv4 0.0.0.0 dhcp server port reversed", want: reason.MartianSource, frame: v4From(net.IP{0, 0, 0, 0}, 67, 68)},
		{name: "H2 ipv4 multicast source", want: reason.MartianSource, frame: v4From(net.IP{224, 0, 0, 1}, 1, 2)},
		{name: "H2 ipv4 239/8 source", want: reason.MartianSource, frame: v4From(net.IP{239, 255, 255, 250}, 1, 2)},
		{name: "H2 ipv4 broadcast source", want: reason.MartianSource, frame: v4From(net.IP{255, 255, 255, 255}, 1, 2)},
		{name: "H2 ipv4 240/4 source is not listed", want: reason.None, frame: v4From(net.IP{240, 0, 0, 1}, 1, 2)},
		{name: "H2 ipv4 private source is fine", want: reason.None, frame: v4From(net.IP{10, 0, 0, 1}, 1, 2)},
		{name: "H2 ipv4 non-first fragment from 0.0.0.0", want: reason.MartianSource,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.SrcIP = net.IPv4zero
				ip.FragOffset = 100
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, gopacket.Payload(make([]byte, 16)))
			}},
		{name: "H2 ipv6 unspecified source", want: reason.MartianSource, frame: v6From("::")},
		{name: "H2 ipv6 duplicate address detection from ::", want: reason.None, frame: v6ICMPFrom("::", "ff02::1:ff00:21", layers.ICMPv6TypeNeighborSolicitation)},
		{name: "H2 ipv6 listener report from ::", want: reason.None, frame: v6ICMPFrom("::", "ff02::16", 143)},
		{name: "H2 ipv6 router solicitation from ::", want: reason.None, frame: v6ICMPFrom("::", "ff02::2", layers.ICMPv6TypeRouterSolicitation)},
		{name: "H2 ipv6 neighbor solicitation from :: to a unicast address", want: reason.MartianSource, frame: v6ICMPFrom("::", "fd77::21", layers.ICMPv6TypeNeighborSolicitation)},
		{name: "H2 ipv6 echo from :: to link multicast", want: reason.MartianSource, frame: v6ICMPFrom("::", "ff02::1", layers.ICMPv6TypeEchoRequest)},
		{name: "H2 ipv6 loopback source", want: reason.MartianSource, frame: v6From("::1")},
		{name: "H2 ipv6 multicast source", want: reason.MartianSource, frame: v6From("ff02::1")},
		{name: "H2 ipv6 link-local source is fine", want: reason.None, frame: v6From("fe80::1")},
		{name: "H2 before H4", want: reason.MartianSource,
			frame: func(t testing.TB) []byte {
				ip := ip6(layers.IPProtocolIPv6Routing)
				ip.SrcIP = net.IPv6loopback
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip, routingHdr(layers.IPProtocolUDP, 0, 0), udp())
			}},

		// ---- H3 ----
		{name: "H3 option length zero", want: reason.IPOptionsInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp()), func(b []byte, ip int) {
					b[ip+21] = 0
					fixIPv4Checksum(b)
				})
			}},
		{name: "H3 option length past header", want: reason.IPOptionsInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp()), func(b []byte, ip int) {
					b[ip+21] = 9
					fixIPv4Checksum(b)
				})
			}},
		{name: "H3 option kind without length byte", want: reason.IPOptionsInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp()), func(b []byte, ip int) {
					copy(b[ip+20:ip+28], []byte{1, 1, 1, 1, 1, 1, 1, 7})
					fixIPv4Checksum(b)
				})
			}},
		{name: "H3 loose source route", want: reason.IPSourceRoute,
			frame: func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(131), udp()) }},
		{name: "H3 strict source route", want: reason.IPSourceRoute,
			frame: func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(137), udp()) }},
		{name: "H3 any option under ip_options drop", want: reason.IPSourceRoute,
			frame:  func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp()) },
			policy: func(p *config.Policy) { p.IPOptions = config.IPOptionsDrop }},
		{name: "H3 malformed wins over drop mode", want: reason.IPOptionsInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp()), func(b []byte, ip int) {
					b[ip+21] = 1
					fixIPv4Checksum(b)
				})
			},
			policy: func(p *config.Policy) { p.IPOptions = config.IPOptionsDrop }},

		// ---- H4 ----
		{name: "H4 two fragment headers", want: reason.IPv6FragHeaderRepeated,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolIPv6Fragment, 0, false, 1), fragHdr(layers.IPProtocolUDP, 0, false, 2), udp())
			}},
		{name: "H4 two fragment headers in a first fragment", want: reason.IPv6FragHeaderRepeated,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolIPv6Destination, 0, true, 1), dstOptsHdr(layers.IPProtocolIPv6Fragment), fragHdr(layers.IPProtocolUDP, 0, true, 2), udp())
			}},
		{name: "H4 routing type 0 with segments left", want: reason.IPv6RoutingType0,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Routing), routingHdr(layers.IPProtocolUDP, 0, 1), udp())
			}},
		{name: "H4 routing type 0 without segments left", want: reason.IPv6RoutingType0,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Routing), routingHdr(layers.IPProtocolUDP, 0, 0), udp())
			}},
		{name: "H1 behind a routing type 0 wins", want: reason.IPv6ExtChainInvalid,
			frame: func(t testing.TB) []byte {
				h := dstOptsHdr(layers.IPProtocolUDP)
				h[1] = 4
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Routing), routingHdr(layers.IPProtocolIPv6Destination, 0, 0), h, udp())
			}},
		{name: "H4 routing type 0 then a second fragment header", want: reason.IPv6RoutingType0,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment), fragHdr(layers.IPProtocolIPv6Routing, 0, false, 1),
					routingHdr(layers.IPProtocolIPv6Fragment, 0, 0), fragHdr(layers.IPProtocolUDP, 0, false, 2), udp())
			}},
		{name: "H4 routing type 0 in a first fragment", want: reason.IPv6RoutingType0,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
					fragHdr(layers.IPProtocolIPv6Routing, 0, true, 1), routingHdr(layers.IPProtocolUDP, 0, 0), udp(), gopacket.Payload(make([]byte, 8)))
			}},
	}
}

func ipWithOption(kind uint8) *layers.IPv4 {
	ip := ip4(layers.IPProtocolUDP)
	// One 7-byte option (type, length, pointer, one address) and EOL.
	ip.Options = []layers.IPv4Option{{OptionType: kind, OptionLength: 7, OptionData: []byte{4, 192, 0, 2, 9}}, {OptionType: 0, OptionLength: 1}}
	return ip
}

func v4From(src net.IP, sport, dport uint16) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		ip := ip4(layers.IPProtocolUDP)
		ip.SrcIP = src
		return frameOf(t, eth(layers.EthernetTypeIPv4), ip, &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)})
	}
}

func v6From(src string) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		ip := ip6(layers.IPProtocolUDP)
		ip.SrcIP = net.ParseIP(src)
		return frameOf(t, eth(layers.EthernetTypeIPv6), ip, udp())
	}
}

// v6ICMPFrom is an ICMPv6 message of the given type with an 8-byte body,
// as duplicate address detection and its neighbours send it.
func v6ICMPFrom(src, dst string, typ uint8) func(testing.TB) []byte {
	return func(t testing.TB) []byte {
		ip := ip6(layers.IPProtocolICMPv6)
		ip.SrcIP, ip.DstIP = net.ParseIP(src), net.ParseIP(dst)
		ip.HopLimit = 255
		return frameOf(t, eth(layers.EthernetTypeIPv6), ip,
			&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(typ, 0)}, gopacket.Payload(make([]byte, 20)))
	}
}

func expect[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestDecodeRules(t *testing.T) {
	for _, c := range decodeCases() {
		t.Run(c.name, func(t *testing.T) { runDecodeCase(t, c) })
	}
}

// runDecodeCase decodes the case's frame under its policy and checks the
// verdict, the case's own checks and the invariants.
func runDecodeCase(t *testing.T, c decodeCase) {
	t.Helper()
	p := defaultPolicy()
	if c.policy != nil {
		c.policy(p)
	}
	var f Frame
	got := f.Decode(c.frame(t), p)
	if got != c.want {
		t.Fatalf("Decode = %v (%s), want %v (%s)", got, got.Rule(), c.want, c.want.Rule())
	}
	if c.check != nil {
		c.check(t, &f)
	}
	checkInvariants(t, &f, got)
}

// checkInvariants holds for every decoded frame, whatever its verdict.
func checkInvariants(t testing.TB, f *Frame, r reason.Reason) {
	t.Helper()
	n := len(f.Data)
	for _, o := range []struct {
		name string
		v    int
	}{{"L3Off", f.L3Off}, {"L3End", f.L3End}, {"L4Off", f.L4Off}, {"FragHdrOff", f.FragHdrOff}, {"FragDataOff", f.FragDataOff}, {"FragNHOff", f.FragNHOff}} {
		if o.v < 0 || o.v > n {
			t.Fatalf("%s = %d outside the %d-byte frame", o.name, o.v, n)
		}
	}
	if f.L4Off > 0 && f.L4Off+f.L4Len > n {
		t.Fatalf("L4Off %d + L4Len %d beyond %d", f.L4Off, f.L4Len, n)
	}
	if f.FragDataOff > 0 && f.FragDataOff+f.FragDataLen > n {
		t.Fatalf("FragDataOff %d + FragDataLen %d beyond %d", f.FragDataOff, f.FragDataLen, n)
	}
	if f.NumVLAN < 0 || f.NumVLAN > MaxVLANTags {
		t.Fatalf("NumVLAN %d", f.NumVLAN)
	}
	if r != reason.None || f.IPVersion == 0 {
		return
	}
	if !f.Src.IsValid() || !f.Dst.IsValid() {
		t.Fatalf("accepted IP frame without addresses")
	}
	if f.L3End < f.L3Off || f.L3End > n {
		t.Fatalf("L3End %d, L3Off %d, len %d", f.L3End, f.L3Off, n)
	}
	if f.Fragment && f.Atomic {
		t.Fatalf("fragment and atomic at once")
	}
	if f.Fragment && f.FragOffset > 0 && (f.L4Off != 0 || f.ChainComplete) {
		t.Fatalf("non-first fragment with a transport header")
	}
	if f.Fragment && f.L4Off > 0 {
		need, _ := TransportHeaderLen(f.Proto, f.Data[f.L4Off:f.L3End])
		if f.L4Len < need {
			t.Fatalf("first fragment L4Off set with %d of %d header bytes", f.L4Len, need)
		}
	}
}

func TestDecodeNilPolicyIsDefault(t *testing.T) {
	var f Frame
	b := frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(131), udp())
	if r := f.Decode(b, nil); r != reason.IPSourceRoute {
		t.Fatalf("Decode with nil policy = %v, want the default's ip_source_route", r)
	}
	if r := f.DecodeIP(b[14:], nil); r != reason.IPSourceRoute {
		t.Fatalf("DecodeIP with nil policy = %v", r)
	}
	if f.Rewrite(nil) {
		t.Fatal("Rewrite with nil policy changed the frame")
	}
}

func TestDecodeResetsReusedFrame(t *testing.T) {
	var f Frame
	p := defaultPolicy()
	frag := frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
		fragHdr(layers.IPProtocolTCP, 0, true, 9), tcpSYN(), gopacket.Payload(make([]byte, 8)))
	if r := f.Decode(frag, p); r != reason.None {
		t.Fatalf("fragment: %v", r)
	}
	arp := frameOf(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 2, SourceHwAddress: macA, SourceProtAddress: v4A,
		DstHwAddress: macB, DstProtAddress: v4B})
	if r := f.Decode(arp, p); r != reason.None {
		t.Fatalf("arp: %v", r)
	}
	want := Frame{Data: arp, DstMAC: [6]byte(macB), SrcMAC: [6]byte(macA), EtherType: EtherTypeARP, L3Off: 14, L3End: 42}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("stale fields after reuse:\n got %+v\nwant %+v", f, want)
	}
}
