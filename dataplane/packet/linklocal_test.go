package packet

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// lldpMAC is the nearest-bridge address LLDP and PTP peer delay use; any
// address in 01:80:c2:00:00:00–0f behaves the same.
var lldpMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// ethLL is an Ethernet header addressed to a reserved link-local MAC.
func ethLL(t layers.EthernetType) *layers.Ethernet {
	e := eth(t)
	e.DstMAC = lldpMAC
	return e
}

// L1 passes link-control protocols to reserved addresses, never IP, IPv6 or
// ARP: those are decoded and judged like frames to any other address, tags
// or not, so a reserved destination MAC carries nothing past the H rules,
// the fragment rules, the T rules or the filter.
func TestLinkLocalAddressDoesNotExemptIP(t *testing.T) {
	synFin := func() *layers.TCP { s := tcpSYN(); s.FIN = true; return s }
	for _, c := range []decodeCase{
		{name: "tcp syn is decoded as ipv4", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, ethLL(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpSYN())
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "IPVersion", f.IPVersion, uint8(4))
				expect(t, "DstPort", f.DstPort, uint16(80))
				expect(t, "TCPFlags", f.TCPFlags, TCPFlagSYN)
			}},
		{name: "bad ipv4 checksum", want: reason.IPChecksumInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, ethLL(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()), func(b []byte, ip int) { b[ip+10] ^= 0xff })
			}},
		{name: "martian source 127.0.0.1", want: reason.MartianSource,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.SrcIP = net.IP{127, 0, 0, 1}
				return frameOf(t, ethLL(layers.EthernetTypeIPv4), ip, udp())
			}},
		{name: "ipv4 fragment is a fragment", want: reason.None,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.Flags = layers.IPv4MoreFragments
				return frameOf(t, ethLL(layers.EthernetTypeIPv4), ip, udp(), gopacket.Payload(make([]byte, 8)))
			},
			check: func(t *testing.T, f *Frame) { expect(t, "Fragment", f.Fragment, true) }},
		{name: "syn+fin is left to the T rules", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, ethLL(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synFin())
			},
			check: func(t *testing.T, f *Frame) {
				expect(t, "CheckTransport", CheckTransport(f, false), reason.TCPFlagsInvalid)
			}},
		{name: "ipv6 with a type 0 routing header", want: reason.IPv6RoutingType0,
			frame: func(t testing.TB) []byte {
				return frameOf(t, ethLL(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Routing), routingHdr(layers.IPProtocolUDP, 0, 1), udp())
			}},
		{name: "malformed arp", want: reason.ARPMalformed,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, ethLL(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
					HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A,
					DstHwAddress: make([]byte, 6), DstProtAddress: v4B}), func(b []byte, ip int) { b[ip+5] = 16 })
			}},
		{name: "bad ipv4 checksum inside a vlan tag", want: reason.IPChecksumInvalid,
			frame: func(t testing.TB) []byte {
				return edit(frameOf(t, ethLL(layers.EthernetTypeDot1Q), dot1q(7, layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp()),
					func(b []byte, ip int) { b[ip+10] ^= 0xff })
			}},
		{name: "martian inside two tags", want: reason.MartianSource,
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.SrcIP = net.IP{127, 0, 0, 1}
				return frameOf(t, ethLL(layers.EthernetTypeQinQ), dot1q(1, layers.EthernetTypeDot1Q), dot1q(2, layers.EthernetTypeIPv4), ip, udp())
			}},
		{name: "unknown ethertype falls to the L2 allow-list", want: reason.EthertypeBlocked,
			frame: func(t testing.TB) []byte { return frameOf(t, ethLL(0x88b5), gopacket.Payload(make([]byte, 46))) }},
		{name: "unknown ethertype allowed by the list", want: reason.None,
			frame:  func(t testing.TB) []byte { return frameOf(t, ethLL(0x88f7), gopacket.Payload(make([]byte, 46))) },
			policy: func(p *config.Policy) { p.ExtraEthertypes = []uint16{0x88f7} }},

		// The control frames L1 is for still pass, untagged and tagged.
		{name: "stp bpdu", want: reason.None, frame: func(testing.TB) []byte { return append([]byte(nil), stpBPDU...) }},
		{name: "lldp", want: reason.None, frame: func(testing.TB) []byte { return lldpFrame() },
			check: func(t *testing.T, f *Frame) { expect(t, "IPVersion", f.IPVersion, uint8(0)) }},
		{name: "lldp inside a vlan tag", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, ethLL(layers.EthernetTypeDot1Q), dot1q(7, layers.EthernetType(EtherTypeLLDP)), gopacket.Payload(lldpFrame()[14:]))
			},
			check: func(t *testing.T, f *Frame) { expect(t, "NumVLAN", f.NumVLAN, 1) }},
		{name: "eapol", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, ethLL(layers.EthernetType(EtherTypeEAPOL)), gopacket.Payload{2, 1, 0, 0})
			}},
		{name: "lacp", want: reason.None,
			frame: func(t testing.TB) []byte {
				return frameOf(t, ethLL(layers.EthernetType(EtherTypeSlow)), gopacket.Payload(make([]byte, 110)))
			}},
	} {
		t.Run(c.name, func(t *testing.T) { runDecodeCase(t, c) })
	}
}
