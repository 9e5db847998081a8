package filter

import (
	"net"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// These tests take frames crafted by gopacket through packet decoding, the
// way the packet loop feeds the filter.

var (
	macUplink = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macRack   = net.HardwareAddr{2, 0, 0, 0, 0, 2}
)

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func craftTCP(t *testing.T, src, dst string, sp, dp uint16, syn, ack bool, seq, ackn uint32, wscale int, payload []byte) []byte {
	s, d := net.ParseIP(src), net.ParseIP(dst)
	tl := &layers.TCP{SrcPort: layers.TCPPort(sp), DstPort: layers.TCPPort(dp), SYN: syn, ACK: ack, Seq: seq, Ack: ackn, Window: 1024}
	if wscale >= 0 {
		tl.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindWindowScale, OptionLength: 3, OptionData: []byte{byte(wscale)}}, {OptionType: layers.TCPOptionKindNop}}
	}
	eth := &layers.Ethernet{SrcMAC: macUplink, DstMAC: macRack}
	if s.To4() != nil {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: s, DstIP: d}
		tl.SetNetworkLayerForChecksum(ip)
		return serialize(t, eth, ip, tl, gopacket.Payload(payload))
	}
	eth.EthernetType = layers.EthernetTypeIPv6
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: s, DstIP: d}
	tl.SetNetworkLayerForChecksum(ip)
	return serialize(t, eth, ip, tl, gopacket.Payload(payload))
}

func decode(t *testing.T, data []byte) *packet.Frame {
	t.Helper()
	p := config.Default()
	var fr packet.Frame
	if r := fr.Decode(data, &p); r != reason.None {
		t.Fatalf("packet decoding refused a crafted frame: %v", r)
	}
	return &fr
}

func TestDecodedHandshakeWithWindowScale(t *testing.T) {
	for _, fam := range []struct{ cl, sv string }{{client, web1}, {client6, web6}} {
		f := newFilter(t, issueRules)
		judge := func(data []byte, dir packet.Direction, want reason.Reason) {
			t.Helper()
			if got := f.Decide(decode(t, data), dir, t0); got != want {
				t.Fatalf("%s: got %v, want %v", fam.cl, got, want)
			}
		}
		judge(craftTCP(t, fam.cl, fam.sv, 40000, 443, true, false, 1000, 0, 8, nil), packet.In, reason.None)
		judge(craftTCP(t, fam.sv, fam.cl, 443, 40000, true, true, 9000, 1001, 8, nil), packet.Out, reason.None)
		judge(craftTCP(t, fam.cl, fam.sv, 40000, 443, false, true, 1001, 9001, -1, []byte("GET / HTTP/1.1\r\n\r\n")), packet.In, reason.None)
		// Window 1024 << 8 = 256 KiB: 200 KB ahead is in window, 300 KB is not.
		judge(craftTCP(t, fam.sv, fam.cl, 443, 40000, false, true, 9001+200000, 1019, -1, make([]byte, 100)), packet.Out, reason.None)
		judge(craftTCP(t, fam.sv, fam.cl, 443, 40000, false, true, 9001+300000, 1019, -1, make([]byte, 100)), packet.Out, reason.ConnInvalid)
		// An unsolicited SYN+ACK from outside toward a port no rule opens.
		judge(craftTCP(t, fam.cl, fam.sv, 80, 40001, true, true, 1, 2, -1, nil), packet.In, reason.FilterBlocked)
		if st := f.Stats(); st.ByState[TCPEstablished] != 1 {
			t.Fatalf("%s: states %+v", fam.cl, st.ByState)
		}
	}
}

func TestDecodedICMPTimeExceeded(t *testing.T) {
	f := newFilter(t, "set default block\npass out all\n")
	s, d := net.ParseIP(web1), net.ParseIP("192.0.2.99")
	ip := &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolUDP, SrcIP: s, DstIP: d}
	u := &layers.UDP{SrcPort: 33434, DstPort: 33435}
	u.SetNetworkLayerForChecksum(ip)
	probe := serialize(t, &layers.Ethernet{SrcMAC: macRack, DstMAC: macUplink, EthernetType: layers.EthernetTypeIPv4}, ip, u, gopacket.Payload("probe"))
	if got := f.Decide(decode(t, probe), packet.Out, t0); got != reason.None {
		t.Fatalf("probe: %v", got)
	}
	quote := probe[14 : 14+28]
	errIP := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.ParseIP("192.0.2.1"), DstIP: s}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeTimeExceeded, 0)}
	timex := serialize(t, &layers.Ethernet{SrcMAC: macUplink, DstMAC: macRack, EthernetType: layers.EthernetTypeIPv4}, errIP, icmp, gopacket.Payload(quote))
	if got := f.Decide(decode(t, timex), packet.In, t0); got != reason.None {
		t.Fatalf("time exceeded for a tracked probe: %v", got)
	}
}
