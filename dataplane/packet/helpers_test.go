package packet

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/config"
)

// Test frame crafting with gopacket. Every builder returns a fresh layer so
// a test can tweak fields before serializing.

var (
	macA = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}
	macB = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x02}

	v4A = net.IP{192, 0, 2, 1}
	v4B = net.IP{198, 51, 100, 7}
	v6A = net.ParseIP("2001:db8:1::2")
	v6B = net.ParseIP("2001:db8:1::1")
)

func eth(t layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
}

func dot1q(vid uint16, next layers.EthernetType) *layers.Dot1Q {
	return &layers.Dot1Q{VLANIdentifier: vid, Type: next}
}

func ip4(proto layers.IPProtocol) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Id: 0x1234, Protocol: proto, SrcIP: v4A, DstIP: v4B}
}

func ip6(next layers.IPProtocol) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: next, SrcIP: v6A, DstIP: v6B}
}

func tcpSYN() *layers.TCP {
	return &layers.TCP{SrcPort: 43210, DstPort: 80, Seq: 1000, SYN: true, Window: 64240,
		Options: []layers.TCPOption{
			{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{0x05, 0xb4}},
			{OptionType: layers.TCPOptionKindNop},
			{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{7}},
		}}
}

func tcpACK() *layers.TCP {
	return &layers.TCP{SrcPort: 43210, DstPort: 80, Seq: 1001, Ack: 5001, ACK: true, PSH: true, Window: 502}
}

func udp() *layers.UDP {
	return &layers.UDP{SrcPort: 5353, DstPort: 53}
}

func icmp4Echo() *layers.ICMPv4 {
	return &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x4242, Seq: 1}
}

func icmp6Echo() []gopacket.SerializableLayer {
	return []gopacket.SerializableLayer{
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)},
		&layers.ICMPv6Echo{Identifier: 0x4242, SeqNumber: 1},
	}
}

// build serializes layers with lengths and checksums fixed; transport
// layers get the first IP layer for their pseudo header.
func build(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	var nl gopacket.NetworkLayer
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.IPv4:
			if nl == nil {
				nl = l
			}
		case *layers.IPv6:
			if nl == nil {
				nl = l
			}
		}
	}
	for _, l := range ls {
		switch l := l.(type) {
		case *layers.TCP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.UDP:
			l.SetNetworkLayerForChecksum(nl)
		case *layers.ICMPv6:
			l.SetNetworkLayerForChecksum(nl)
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// layersOf flattens single layers and layer slices into one list.
func layersOf(parts ...any) []gopacket.SerializableLayer {
	var out []gopacket.SerializableLayer
	for _, p := range parts {
		switch p := p.(type) {
		case gopacket.SerializableLayer:
			out = append(out, p)
		case []gopacket.SerializableLayer:
			out = append(out, p...)
		default:
			panic("layersOf: unexpected part")
		}
	}
	return out
}

func frameOf(t testing.TB, parts ...any) []byte {
	t.Helper()
	return build(t, layersOf(parts...)...)
}

func defaultPolicy() *config.Policy {
	p := config.Default()
	return &p
}

// ipOff finds the IP header behind the Ethernet header and tags of a frame
// the tests built themselves.
func ipOff(b []byte) int {
	off := 12
	for isVLANTPID(be16(b, off)) {
		off += 4
	}
	return off + 2
}

// fixIPv4Checksum rewrites the header checksum after a test broke a field
// on purpose, so that only the intended rule fails.
func fixIPv4Checksum(b []byte) {
	off := ipOff(b)
	ihl := int(b[off]&0x0f) * 4
	if ihl < 20 || off+ihl > len(b) {
		return
	}
	SetIPv4HeaderChecksum(b[off : off+ihl])
}
