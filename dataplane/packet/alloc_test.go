package packet

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/reason"
)

type hotFrame struct {
	name  string
	frame []byte
}

// hotFrames are the shapes the hot path sees most, plus the costly ones
// (extension headers, fragments).
func hotFrames(t testing.TB) []hotFrame {
	return []hotFrame{
		{"tcp4", frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(), gopacket.Payload(make([]byte, 1400)))},
		{"tcp4-syn-vlan", frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpSYN())},
		{"udp6", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), gopacket.Payload(make([]byte, 512)))},
		{"ipv6-ext-tcp", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop), hbhHdr(layers.IPProtocolIPv6Destination),
			dstOptsHdr(layers.IPProtocolIPv6Routing), routingHdr(layers.IPProtocolTCP, 2, 1), tcpACK(), gopacket.Payload(make([]byte, 256)))},
		{"ipv4-frag-first", func() []byte {
			ip := ip4(layers.IPProtocolUDP)
			ip.Flags = layers.IPv4MoreFragments
			return frameOf(t, eth(layers.EthernetTypeIPv4), ip, udp(), gopacket.Payload(make([]byte, 1472)))
		}()},
		{"ipv6-frag-first", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
			fragHdr(layers.IPProtocolICMPv6, 0, true, 77), icmp6Echo(), gopacket.Payload(make([]byte, 1224)))},
		{"ipv6-frag-later", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
			fragHdr(layers.IPProtocolICMPv6, 1232, false, 77), gopacket.Payload(make([]byte, 600)))},
		{"tcp4-syn-to-link-local", frameOf(t, ethLL(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpSYN())},
		{"lldp-vlan", frameOf(t, ethLL(layers.EthernetTypeDot1Q), dot1q(7, layers.EthernetType(EtherTypeLLDP)), gopacket.Payload(lldpFrame()[14:]))},
		{"ipv6-atomic-tcp", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
			fragHdr(layers.IPProtocolTCP, 0, false, 78), tcpACK(), gopacket.Payload("GET / HTTP/1.0\r\n\r\n"))},
	}
}

func TestHotPathAllocatesNothing(t *testing.T) {
	p := defaultPolicy()
	rw := defaultPolicy()
	rw.MinTTL, rw.MaxMSS, rw.ClearDF, rw.RandomIPID = 64, 1200, true, true
	for _, h := range hotFrames(t) {
		t.Run(h.name, func(t *testing.T) {
			var f Frame
			if r := f.Decode(h.frame, p); r != reason.None {
				t.Fatalf("Decode = %v", r)
			}
			if r := CheckTransport(&f, true); r != reason.None {
				t.Fatalf("CheckTransport = %v", r)
			}
			check := func(what string, fn func()) {
				if n := testing.AllocsPerRun(200, fn); n != 0 {
					t.Errorf("%s: %v allocations per run", what, n)
				}
			}
			check("Decode", func() { f.Decode(h.frame, p) })
			check("CheckTransport", func() { CheckTransport(&f, true) })
			check("Decode+Rewrite", func() { f.Decode(h.frame, rw); f.Rewrite(rw) })
			check("FixTransportChecksum", func() { f.Decode(h.frame, p); FixTransportChecksum(&f) })
			check("FinishOffloadChecksum", func() {
				if f.L4Off > 0 {
					FinishOffloadChecksum(h.frame, f.L4Off, 2)
				}
			})
		})
	}
}

// BenchmarkDecode: go test -run '^$' -bench . -benchmem ./dataplane/packet
func BenchmarkDecode(b *testing.B) {
	p := defaultPolicy()
	for _, h := range hotFrames(b) {
		b.Run(h.name, func(b *testing.B) {
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(len(h.frame)))
			for b.Loop() {
				if f.Decode(h.frame, p) != reason.None {
					b.Fatal("rejected")
				}
			}
		})
	}
}

func BenchmarkDecodeAndCheckTransport(b *testing.B) {
	p := defaultPolicy()
	for _, h := range hotFrames(b) {
		b.Run(h.name, func(b *testing.B) {
			var f Frame
			b.ReportAllocs()
			b.SetBytes(int64(len(h.frame)))
			for b.Loop() {
				f.Decode(h.frame, p)
				if CheckTransport(&f, true) != reason.None {
					b.Fatal("rejected")
				}
			}
		})
	}
}
