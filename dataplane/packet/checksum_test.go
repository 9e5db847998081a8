package packet

import (
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// naiveSum is RFC 1071 as written: 16-bit words, carries folded at the end.
func naiveSum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

func TestSumMatchesNaive(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 300; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := uint16(Sum(b, 0)), naiveSum(b); got != want {
			t.Fatalf("len %d: Sum = %#04x, naive %#04x", n, got, want)
		}
		// All ones stress the carries.
		for i := range b {
			b[i] = 0xff
		}
		if got, want := uint16(Sum(b, 0)), naiveSum(b); got != want {
			t.Fatalf("len %d of 0xff: Sum = %#04x, naive %#04x", n, got, want)
		}
	}
	// Chaining sums over even-length pieces equals one sum.
	b := []byte("0123456789abcdefghij")
	if Sum(b[10:], Sum(b[:10], 0)) != Sum(b, 0) {
		t.Fatal("chained sum differs")
	}
}

// verifyWithGopacket decodes b with gopacket and fails unless every layer
// in want is present and every checksum gopacket knows agrees.
func verifyWithGopacket(t *testing.T, b []byte, want ...gopacket.LayerType) {
	t.Helper()
	if bad := gopacketMismatches(t, b, want...); len(bad) > 0 {
		t.Fatalf("gopacket checksum mismatches: %+v", bad)
	}
}

func gopacketMismatches(t *testing.T, b []byte, want ...gopacket.LayerType) []gopacket.ChecksumMismatch {
	t.Helper()
	pkt := gopacket.NewPacket(b, layers.LayerTypeEthernet, gopacket.Default)
	for _, lt := range want {
		if pkt.Layer(lt) == nil {
			t.Fatalf("gopacket found no %v layer (%v)", lt, pkt.ErrorLayer())
		}
	}
	// gopacket does not link a decoded transport layer to its pseudo header.
	if nl := pkt.NetworkLayer(); nl != nil {
		for _, l := range pkt.Layers() {
			if l, ok := l.(interface {
				SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
			}); ok {
				if err := l.SetNetworkLayerForChecksum(nl); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	err, bad := pkt.VerifyChecksums()
	if err != nil {
		t.Fatalf("gopacket: %v", err)
	}
	return bad
}

func TestIPv4HeaderChecksumMatchesGopacket(t *testing.T) {
	b := frameOf(t, eth(layers.EthernetTypeIPv4), ipWithOption(7), udp())
	hdr := b[14 : 14+28]
	want := be16(hdr, 10)
	if got := IPv4HeaderChecksum(hdr); got != want {
		t.Fatalf("IPv4HeaderChecksum = %#04x, gopacket wrote %#04x", got, want)
	}
	if !VerifyIPv4HeaderChecksum(hdr) {
		t.Fatal("valid header does not verify")
	}
	hdr[8]--
	if VerifyIPv4HeaderChecksum(hdr) {
		t.Fatal("changed TTL still verifies")
	}
	SetIPv4HeaderChecksum(hdr)
	verifyWithGopacket(t, b, layers.LayerTypeIPv4)
}

type checksummed struct {
	name  string
	frame []byte
	field int // checksum offset inside the segment
	lt    gopacket.LayerType
}

func checksummedFrames(t *testing.T) []checksummed {
	odd := gopacket.Payload("odd length payload")
	return []checksummed{
		{"tcp4", frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(), odd), 16, layers.LayerTypeTCP},
		{"tcp6", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), dstOptsHdr(layers.IPProtocolTCP), tcpSYN(), odd), 16, layers.LayerTypeTCP},
		{"udp4", frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), odd), 6, layers.LayerTypeUDP},
		{"udp6", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), odd), 6, layers.LayerTypeUDP},
		{"icmp4", frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp4Echo(), odd), 2, layers.LayerTypeICMPv4},
		{"icmpv6", frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6), icmp6Echo(), odd), 2, layers.LayerTypeICMPv6},
	}
}

func TestTransportChecksumMatchesGopacket(t *testing.T) {
	p := defaultPolicy()
	for _, c := range checksummedFrames(t) {
		t.Run(c.name, func(t *testing.T) {
			var f Frame
			if r := f.Decode(c.frame, p); r != reason.None {
				t.Fatalf("Decode: %v", r)
			}
			seg := c.frame[f.L4Off:f.L3End]
			want := be16(seg, c.field)
			if got := TransportChecksum(f.Src, f.Dst, f.Proto, seg); got != want {
				t.Fatalf("TransportChecksum = %#04x, gopacket wrote %#04x", got, want)
			}
			if !VerifyTransportChecksum(f.Src, f.Dst, f.Proto, seg) {
				t.Fatal("does not verify")
			}
			// FixTransportChecksum recomputes a wrecked field.
			put16(seg, c.field, 0xdead)
			FixTransportChecksum(&f)
			if got := be16(seg, c.field); got != want {
				t.Fatalf("FixTransportChecksum wrote %#04x, want %#04x", got, want)
			}
			verifyWithGopacket(t, c.frame, c.lt)
			// The gopacket oracle itself notices a wrong checksum.
			seg[c.field] ^= 1
			if len(gopacketMismatches(t, c.frame, c.lt)) == 0 {
				t.Fatal("gopacket accepted a wrong checksum")
			}
			seg[c.field] ^= 1
		})
	}
}

// TestFinishOffloadChecksum gives each frame what a Linux sender hands an
// AF_PACKET socket with CHECKSUM_PARTIAL: only the pseudo-header sum in the
// checksum field. Ethernet padding must not be summed.
func TestFinishOffloadChecksum(t *testing.T) {
	p := defaultPolicy()
	for _, c := range checksummedFrames(t) {
		if c.name == "icmp4" {
			continue // ICMP has no pseudo header and is never offloaded
		}
		t.Run(c.name, func(t *testing.T) {
			b := append(c.frame, 0x55, 0x55, 0x55, 0x55) // trailing padding
			var f Frame
			if r := f.Decode(b, p); r != reason.None {
				t.Fatalf("Decode: %v", r)
			}
			seg := b[f.L4Off:f.L3End]
			want := be16(seg, c.field)
			pseudo := uint16(PseudoHeaderSum(f.Src, f.Dst, f.Proto, len(seg)))
			put16(seg, c.field, pseudo)
			if VerifyTransportChecksum(f.Src, f.Dst, f.Proto, seg) {
				t.Fatal("pseudo-header-only checksum verifies before finishing")
			}
			FinishOffloadChecksum(b, f.L4Off, c.field)
			if got := be16(seg, c.field); got != want {
				t.Fatalf("finished checksum %#04x, want %#04x", got, want)
			}
			verifyWithGopacket(t, b, c.lt)
		})
	}
}

func TestFinishOffloadChecksumIgnoresBadOffsets(t *testing.T) {
	b := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())
	orig := append([]byte(nil), b...)
	for _, o := range [][2]int{{-1, 6}, {34, -2}, {len(b), 0}, {len(b) - 1, 0}, {34, len(b)}} {
		FinishOffloadChecksum(b, o[0], o[1])
		if string(b) != string(orig) {
			t.Fatalf("offsets %v changed the frame", o)
		}
	}
}

func TestUpdateChecksumMatchesRecompute(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 2000 {
		hdr := make([]byte, 20)
		for i := range hdr {
			hdr[i] = byte(r.Uint32())
		}
		SetIPv4HeaderChecksum(hdr)
		csum := be16(hdr, 10)
		// A 16-bit field (TTL/protocol, flags, ID) ...
		off := []int{4, 6, 8}[r.IntN(3)]
		old, nw := be16(hdr, off), uint16(r.Uint32())
		put16(hdr, off, nw)
		csum = UpdateChecksum16(csum, old, nw)
		// ... and a 32-bit one (an address).
		old32, nw32 := be32(hdr, 12), r.Uint32()
		put16(hdr, 12, uint16(nw32>>16))
		put16(hdr, 14, uint16(nw32))
		csum = UpdateChecksum32(csum, old32, nw32)
		put16(hdr, 10, csum)
		if !VerifyIPv4HeaderChecksum(hdr) {
			t.Fatalf("incremental update does not verify: %x", hdr)
		}
	}
}

func TestPseudoHeaderSum(t *testing.T) {
	// IPv4: 192.0.2.1 + 198.51.100.7, protocol 6, length 20, summed by hand.
	want := uint32(naiveSum([]byte{192, 0, 2, 1, 198, 51, 100, 7, 0, 6, 0, 20}))
	if got := PseudoHeaderSum(netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("198.51.100.7"), 6, 20); got != want {
		t.Fatalf("IPv4 pseudo header %#x, want %#x", got, want)
	}
	a, d := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("ff02::1:ff00:1")
	raw := append(a.AsSlice(), d.AsSlice()...)
	raw = append(raw, 0, 1, 0, 4, 0, 0, 0, 58) // 32-bit length 65540 (jumbo-sized), next header
	if got, want := PseudoHeaderSum(a, d, 58, 65540), uint32(naiveSum(raw)); got != want {
		t.Fatalf("IPv6 pseudo header %#x, want %#x", got, want)
	}
}
