package packet

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// validFrames collects every frame the tests expect Decode to accept: the
// crafted ones and the forwarded frames of the replay corpus.
func validFrames(t *testing.T) map[string][]byte {
	out := map[string][]byte{}
	for _, c := range decodeCases() {
		if c.want == reason.None && c.policy == nil {
			out["case "+c.name] = c.frame(t)
		}
	}
	for _, c := range transportCases() {
		out["transport "+c.name] = c.frame(t)
	}
	for _, c := range rewriteCases() {
		out["rewrite "+c.name] = c.frame(t)
	}
	return out
}

func addrOf(t *testing.T, ip []byte) netip.Addr {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		t.Fatalf("gopacket address %v", ip)
	}
	return a
}

// crossCheck compares Decode's view of an accepted frame with gopacket's
// full decoder, field by field, wherever gopacket decoded the layer.
func crossCheck(t *testing.T, b []byte, f *Frame) (compared int) {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	if l, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
		expect(t, "dst MAC", f.DstMAC, [6]byte(l.DstMAC))
		expect(t, "src MAC", f.SrcMAC, [6]byte(l.SrcMAC))
		compared++
	}
	var tags []*layers.Dot1Q
	for _, l := range pkt.Layers() {
		if q, ok := l.(*layers.Dot1Q); ok {
			tags = append(tags, q)
		}
	}
	if len(tags) > 0 {
		expect(t, "tags", f.NumVLAN, len(tags))
		for i, q := range tags[:min(len(tags), MaxVLANTags)] {
			expect(t, "VLAN id", f.VLANTCI[i]&0x0fff, q.VLANIdentifier)
			expect(t, "VLAN priority", uint8(f.VLANTCI[i]>>13), q.Priority)
		}
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
		expect(t, "version", f.IPVersion, uint8(4))
		expect(t, "src", f.Src, addrOf(t, l.SrcIP))
		expect(t, "dst", f.Dst, addrOf(t, l.DstIP))
		expect(t, "TTL", f.TTL, l.TTL)
		expect(t, "proto", f.Proto, uint8(l.Protocol))
		expect(t, "IPID", f.IPID, uint32(l.Id))
		expect(t, "IHL", f.IPHdrLen, int(l.IHL)*4)
		expect(t, "L3End", f.L3End-f.L3Off, int(l.Length))
		expect(t, "DF", f.DontFrag, l.Flags&layers.IPv4DontFragment != 0)
		expect(t, "MF", f.MoreFrags, l.Flags&layers.IPv4MoreFragments != 0)
		expect(t, "offset", f.FragOffset, int(l.FragOffset)*8)
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
		expect(t, "version", f.IPVersion, uint8(6))
		expect(t, "src", f.Src, addrOf(t, l.SrcIP))
		expect(t, "dst", f.Dst, addrOf(t, l.DstIP))
		expect(t, "hop limit", f.TTL, l.HopLimit)
		expect(t, "L3End", f.L3End-f.L3Off, 40+int(l.Length))
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeIPv6Fragment).(*layers.IPv6Fragment); ok {
		expect(t, "frag offset", f.FragOffset, int(l.FragmentOffset)*8)
		expect(t, "M", f.MoreFrags, l.MoreFragments)
		expect(t, "frag id", f.IPID, l.Identification)
		expect(t, "frag next header", f.FragNextHeader, uint8(l.NextHeader))
		expect(t, "atomic", f.Atomic, l.FragmentOffset == 0 && !l.MoreFragments)
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && f.L4Len >= 20 {
		expect(t, "proto", f.Proto, ProtoTCP)
		expect(t, "sport", f.SrcPort, uint16(l.SrcPort))
		expect(t, "dport", f.DstPort, uint16(l.DstPort))
		expect(t, "seq", f.TCPSeq, l.Seq)
		expect(t, "ack", f.TCPAck, l.Ack)
		expect(t, "window", f.TCPWin, l.Window)
		expect(t, "SYN", f.TCPFlags&TCPFlagSYN != 0, l.SYN)
		expect(t, "ACK", f.TCPFlags&TCPFlagACK != 0, l.ACK)
		expect(t, "FIN", f.TCPFlags&TCPFlagFIN != 0, l.FIN)
		expect(t, "RST", f.TCPFlags&TCPFlagRST != 0, l.RST)
		if l.DataOffset >= 5 {
			expect(t, "L4Len", f.L4Len, len(l.Contents)+len(l.Payload))
		}
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		expect(t, "proto", f.Proto, ProtoUDP)
		expect(t, "sport", f.SrcPort, uint16(l.SrcPort))
		expect(t, "dport", f.DstPort, uint16(l.DstPort))
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		expect(t, "ICMP type", f.ICMPType, l.TypeCode.Type())
		expect(t, "ICMP code", f.ICMPCode, l.TypeCode.Code())
		if isICMPEcho(ProtoICMP, f.ICMPType) {
			expect(t, "ICMP id", f.ICMPID, l.Id)
		}
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && f.L4Len >= 8 {
		expect(t, "ICMPv6 type", f.ICMPType, l.TypeCode.Type())
		expect(t, "ICMPv6 code", f.ICMPCode, l.TypeCode.Code())
		compared++
	}
	if l, ok := pkt.Layer(layers.LayerTypeARP).(*layers.ARP); ok {
		expect(t, "ARP end", f.L3End, f.L3Off+28)
		expect(t, "ARP plen", l.ProtAddressSize, uint8(4))
		compared++
	}
	return compared
}

func TestDecodeAgreesWithGopacket(t *testing.T) {
	p := defaultPolicy()
	var f Frame
	total := 0
	for name, b := range validFrames(t) {
		t.Run(name, func(t *testing.T) {
			if r := f.Decode(b, p); r != reason.None {
				t.Fatalf("Decode = %v", r)
			}
			total += crossCheck(t, b, &f)
		})
	}
	t.Logf("%d layers compared", total)
}

func TestCorpusAgreesWithGopacket(t *testing.T) {
	entries := loadCorpus(t)
	p := defaultPolicy()
	var f Frame
	total := 0
	for _, e := range entries {
		for i, b := range readPcap(t, e.File) {
			if f.Decode(b, p) != reason.None {
				continue
			}
			t.Run(fmt.Sprintf("%s/frame%d", strings.SplitN(e.File, "__", 2)[0], i+1), func(t *testing.T) {
				total += crossCheck(t, b, &f)
			})
		}
	}
	t.Logf("%d layers compared", total)
}
