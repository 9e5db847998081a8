package packet

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// partial turns a decoded frame's full transport checksum into the partial
// one the kernel hands over with VNetNeedsCsum: the pseudo-header sum,
// not complemented, in the checksum field.
func partial(t testing.TB, f *Frame) {
	t.Helper()
	off, ok := ChecksumOffset(f.Proto)
	if !ok || f.L4Off <= 0 {
		t.Fatalf("no checksum to make partial (proto %d)", f.Proto)
	}
	seg := f.Data[f.L4Off:f.L3End]
	put16(seg, off, uint16(PseudoHeaderSum(f.Src, f.Dst, f.Proto, len(seg))))
}

// decoded decodes a frame the test built, failing unless Decode accepts it.
func decoded(t testing.TB, b []byte) *Frame {
	t.Helper()
	f := new(Frame)
	if r := f.Decode(b, defaultPolicy()); r != reason.None {
		t.Fatalf("Decode = %v", r)
	}
	return f
}

// needsCsum is the header the kernel gives a frame with a partial
// checksum at f's transport header.
func needsCsum(f *Frame) VNetHdr {
	off, _ := ChecksumOffset(f.Proto)
	return VNetHdr{Flags: VNetNeedsCsum, CsumStart: uint16(f.L4Off), CsumOffset: uint16(off)}
}

// gro is the header of a GRO aggregate of f cut into mss-byte segments,
// as the kernel hands it over: partial checksum, headers as HdrLen.
func gro(f *Frame, typ uint8, mss uint16) VNetHdr {
	h := needsCsum(f)
	h.GSOType, h.GSOSize, h.HdrLen = typ, mss, uint16(f.L4Off+20)
	return h
}

func tcp4Aggregate(t testing.TB, payload int) []byte {
	return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(), gopacket.Payload(make([]byte, payload)))
}

func tcp6Aggregate(t testing.TB, payload int) []byte {
	return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), tcpACK(), gopacket.Payload(make([]byte, payload)))
}

func udp6Aggregate(t testing.TB, payload int) []byte {
	return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP), udp(), gopacket.Payload(make([]byte, payload)))
}

// TestCheckVNetHdrAcceptsWhatTheKernelHands: the shapes GRO, GSO and
// checksum offload produce are accepted and recorded, with the segments
// they become.
func TestCheckVNetHdrAcceptsWhatTheKernelHands(t *testing.T) {
	vlanAgg := frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(6, layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(),
		gopacket.Payload(make([]byte, 4000)))
	cases := []struct {
		name  string
		frame []byte
		hdr   func(f *Frame) VNetHdr
		segs  int
	}{
		{"none", tcp4Aggregate(t, 100), func(*Frame) VNetHdr { return VNetHdr{} }, 1},
		{"data valid", tcp4Aggregate(t, 100), func(*Frame) VNetHdr { return VNetHdr{Flags: VNetDataValid} }, 1},
		{"partial tcp4", tcp4Aggregate(t, 100), needsCsum, 1},
		{"partial syn", frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpSYN()), needsCsum, 1},
		{"partial udp6", udp6Aggregate(t, 100), needsCsum, 1},
		{"tcp4 aggregate", tcp4Aggregate(t, 3000), func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1448) }, 3},
		{"tcp4 aggregate, whole segments", tcp4Aggregate(t, 2896), func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1448) }, 2},
		{"tcp4 aggregate, ECN", tcp4Aggregate(t, 2897), func(f *Frame) VNetHdr { return gro(f, GSOTCPv4|GSOECN, 1448) }, 3},
		{"tcp4 aggregate, checksum verified", tcp4Aggregate(t, 3000), func(f *Frame) VNetHdr {
			return VNetHdr{Flags: VNetDataValid, GSOType: GSOTCPv4, GSOSize: 1000, HdrLen: 54}
		}, 3},
		{"tcp4 smaller than one segment", tcp4Aggregate(t, 500), func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1448) }, 1},
		{"tcp6 aggregate", tcp6Aggregate(t, 65000), func(f *Frame) VNetHdr { return gro(f, GSOTCPv6, 1428) }, 46},
		{"udp6 aggregate", udp6Aggregate(t, 6000), func(f *Frame) VNetHdr { return gro(f, GSOUDPL4, 1200) }, 5},
		{"tcp4 aggregate in a VLAN", vlanAgg, func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1448) }, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := decoded(t, c.frame)
			h := c.hdr(f)
			if r := f.CheckVNetHdr(h); r != reason.None {
				t.Fatalf("CheckVNetHdr(%+v) = %v", h, r)
			}
			if f.VNet != h {
				t.Fatalf("recorded %+v, want %+v", f.VNet, h)
			}
			if got := f.Segments(); got != c.segs {
				t.Fatalf("Segments = %d, want %d", got, c.segs)
			}
		})
	}
}

// TestCheckVNetHdrRefusesWhatDisagrees: every way the header can
// contradict the frame's own headers is offload_invalid, and nothing of
// the header is kept.
func TestCheckVNetHdrRefusesWhatDisagrees(t *testing.T) {
	firstFragment := func(t testing.TB) []byte {
		ip := ip4(layers.IPProtocolTCP)
		ip.Flags = layers.IPv4MoreFragments
		return frameOf(t, eth(layers.EthernetTypeIPv4), ip, tcpACK(), gopacket.Payload(make([]byte, 2000)))
	}
	atomic := frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Fragment),
		fragHdr(layers.IPProtocolTCP, 0, false, 78), tcpACK(), gopacket.Payload(make([]byte, 3000)))
	padded := append(frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(), gopacket.Payload(make([]byte, 3000))), 0, 0, 0, 0)
	icmp := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4), icmp4Echo(), gopacket.Payload(make([]byte, 3000)))
	arp := frameOf(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: macA, SourceProtAddress: v4A,
		DstHwAddress: make([]byte, 6), DstProtAddress: v4B})
	udp4 := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp(), gopacket.Payload(make([]byte, 3000)))

	tcp4 := func(t testing.TB) []byte { return tcp4Aggregate(t, 3000) }
	cases := []struct {
		name  string
		frame func(testing.TB) []byte
		hdr   func(f *Frame) VNetHdr
	}{
		{"unknown flag", tcp4, func(f *Frame) VNetHdr { return VNetHdr{Flags: 4} }},
		{"both flags", tcp4, func(f *Frame) VNetHdr { h := needsCsum(f); h.Flags |= VNetDataValid; return h }},
		{"header length beyond the frame", tcp4, func(f *Frame) VNetHdr { return VNetHdr{HdrLen: uint16(len(f.Data) + 1)} }},
		{"tcpv4 on ipv6", func(t testing.TB) []byte { return tcp6Aggregate(t, 3000) }, func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1000) }},
		{"tcpv6 on ipv4", tcp4, func(f *Frame) VNetHdr { return gro(f, GSOTCPv6, 1000) }},
		{"tcpv4 on udp", func(testing.TB) []byte { return udp4 }, func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1000) }},
		{"udp_l4 on tcp", tcp4, func(f *Frame) VNetHdr { return gro(f, GSOUDPL4, 1000) }},
		{"udp fragmentation offload", func(testing.TB) []byte { return udp4 }, func(f *Frame) VNetHdr { return gro(f, GSOUDP, 1000) }},
		{"unknown gso type", tcp4, func(f *Frame) VNetHdr { return gro(f, 2, 1000) }},
		{"ecn without gso", tcp4, func(f *Frame) VNetHdr { return VNetHdr{GSOType: GSOECN} }},
		{"ecn on udp", func(testing.TB) []byte { return udp4 }, func(f *Frame) VNetHdr { return gro(f, GSOUDPL4|GSOECN, 1000) }},
		{"gso size 0", tcp4, func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 0) }},
		{"udp_l4 without partial checksum", func(testing.TB) []byte { return udp4 }, func(f *Frame) VNetHdr {
			return VNetHdr{GSOType: GSOUDPL4, GSOSize: 1000}
		}},
		{"aggregate of an ipv4 fragment", firstFragment, func(f *Frame) VNetHdr {
			return VNetHdr{GSOType: GSOTCPv4, GSOSize: 1000}
		}},
		{"aggregate of an ipv6 atomic fragment", func(testing.TB) []byte { return atomic }, func(f *Frame) VNetHdr {
			return VNetHdr{GSOType: GSOTCPv6, GSOSize: 1000}
		}},
		{"partial checksum on a fragment", firstFragment, func(f *Frame) VNetHdr {
			return VNetHdr{Flags: VNetNeedsCsum, CsumStart: 34, CsumOffset: 16}
		}},
		{"bytes after the ip packet", func(testing.TB) []byte { return padded }, func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1000) }},
		{"no payload to cut", func(t testing.TB) []byte { return tcp4Aggregate(t, 0) }, func(f *Frame) VNetHdr { return gro(f, GSOTCPv4, 1000) }},
		{"aggregate of icmp", func(testing.TB) []byte { return icmp }, func(f *Frame) VNetHdr {
			return VNetHdr{GSOType: GSOTCPv4, GSOSize: 1000}
		}},
		{"aggregate of arp", func(testing.TB) []byte { return arp }, func(f *Frame) VNetHdr {
			return VNetHdr{GSOType: GSOTCPv4, GSOSize: 1000}
		}},
		{"checksum start before the transport header", tcp4, func(f *Frame) VNetHdr { h := needsCsum(f); h.CsumStart--; return h }},
		{"checksum start after the transport header", tcp4, func(f *Frame) VNetHdr { h := needsCsum(f); h.CsumStart += 2; return h }},
		{"checksum offset of udp on tcp", tcp4, func(f *Frame) VNetHdr { h := needsCsum(f); h.CsumOffset = 6; return h }},
		{"checksum offset beyond the frame", tcp4, func(f *Frame) VNetHdr { h := needsCsum(f); h.CsumOffset = 0xfff0; return h }},
		{"partial checksum on icmp", func(testing.TB) []byte { return icmp }, func(f *Frame) VNetHdr {
			return VNetHdr{Flags: VNetNeedsCsum, CsumStart: uint16(f.L4Off), CsumOffset: 2}
		}},
		{"partial checksum on arp", func(testing.TB) []byte { return arp }, func(f *Frame) VNetHdr {
			return VNetHdr{Flags: VNetNeedsCsum, CsumStart: 14, CsumOffset: 2}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := decoded(t, c.frame(t))
			h := c.hdr(f)
			if r := f.CheckVNetHdr(h); r != reason.OffloadInvalid {
				t.Fatalf("CheckVNetHdr(%+v) = %v, want %v", h, r, reason.OffloadInvalid)
			}
			if f.VNet != (VNetHdr{}) || f.Segments() != 1 {
				t.Fatalf("refused header kept: %+v, %d segments", f.VNet, f.Segments())
			}
		})
	}
}

// TestSegmentsLeaveTheTransportHeaderOut: the payload shared out is what
// follows the whole TCP header, options included.
func TestSegmentsLeaveTheTransportHeaderOut(t *testing.T) {
	tcp := tcpACK()
	tcp.Options = []layers.TCPOption{{OptionType: layers.TCPOptionKindTimestamps, OptionLength: 10, OptionData: make([]byte, 8)},
		{OptionType: layers.TCPOptionKindNop}, {OptionType: layers.TCPOptionKindNop}}
	// 2 × 1000 bytes of payload behind a 32-byte header: 2 segments,
	// where counting the header as payload would make 3.
	f := decoded(t, frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcp, gopacket.Payload(make([]byte, 2000))))
	if r := f.CheckVNetHdr(gro(f, GSOTCPv4, 1000)); r != reason.None {
		t.Fatal(r)
	}
	if got := f.Segments(); got != 2 {
		t.Fatalf("Segments = %d, want 2", got)
	}
}

// TestPartialChecksumIsNotVerified: with verify_checksums: all, a partial
// checksum and an aggregate's stale one pass, while a frame that carries a
// full checksum (even one the NIC marked verified) is still checked.
func TestPartialChecksumIsNotVerified(t *testing.T) {
	f := decoded(t, tcp4Aggregate(t, 100))
	partial(t, f)
	if r := CheckTransport(f, true); r != reason.ChecksumInvalid {
		t.Fatalf("partial checksum without offload state: %v, want %v", r, reason.ChecksumInvalid)
	}
	if r := f.CheckVNetHdr(needsCsum(f)); r != reason.None {
		t.Fatal(r)
	}
	if r := CheckTransport(f, true); r != reason.None {
		t.Fatalf("partial checksum with VNetNeedsCsum: %v", r)
	}

	agg := decoded(t, tcp4Aggregate(t, 3000))
	put16(agg.Data, agg.L4Off+16, 0x1234) // GRO leaves the first segment's checksum
	if r := agg.CheckVNetHdr(VNetHdr{Flags: VNetDataValid, GSOType: GSOTCPv4, GSOSize: 1000}); r != reason.None {
		t.Fatal(r)
	}
	if r := CheckTransport(agg, true); r != reason.None {
		t.Fatalf("aggregate: %v", r)
	}

	bad := decoded(t, tcp4Aggregate(t, 100))
	put16(bad.Data, bad.L4Off+16, 0x1234)
	if r := bad.CheckVNetHdr(VNetHdr{Flags: VNetDataValid}); r != reason.None {
		t.Fatal(r)
	}
	if r := CheckTransport(bad, true); r != reason.ChecksumInvalid {
		t.Fatalf("full but wrong checksum marked verified: %v, want %v", r, reason.ChecksumInvalid)
	}
}

// TestClampMSSKeepsAPartialChecksumPartial: the MSS clamp of a SYN whose
// checksum is left to offload must not patch the field (it holds the
// pseudo-header sum, and the clamped option is summed when the checksum
// is completed); patching it would make the completed checksum wrong.
func TestClampMSSKeepsAPartialChecksumPartial(t *testing.T) {
	for _, odd := range []bool{false, true} {
		f := decoded(t, frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synWithMSS(1460, odd)))
		partial(t, f)
		if r := f.CheckVNetHdr(needsCsum(f)); r != reason.None {
			t.Fatal(r)
		}
		p := defaultPolicy()
		p.MaxMSS = 1200
		if !f.Rewrite(p) || mssOf(f) != 1200 {
			t.Fatalf("odd=%v: MSS not clamped: %d", odd, mssOf(f))
		}
		if !f.FinishPartialChecksum() {
			t.Fatal("FinishPartialChecksum refused a plain frame")
		}
		if f.VNet.PartialChecksum() {
			t.Fatal("checksum still marked partial")
		}
		if !VerifyTransportChecksum(f.Src, f.Dst, f.Proto, f.Data[f.L4Off:f.L3End]) {
			t.Fatalf("odd=%v: completed checksum wrong after the clamp", odd)
		}
	}
}

// TestRewriteAnAggregate: the T3 header rewrites land in the headers every
// segment repeats, and the IPv4 header checksum stays right.
func TestRewriteAnAggregate(t *testing.T) {
	ip := ip4(layers.IPProtocolTCP)
	ip.TTL, ip.Flags = 3, layers.IPv4DontFragment
	f := decoded(t, frameOf(t, eth(layers.EthernetTypeIPv4), ip, tcpACK(), gopacket.Payload(make([]byte, 5000))))
	partial(t, f)
	if r := f.CheckVNetHdr(gro(f, GSOTCPv4, 1448)); r != reason.None {
		t.Fatal(r)
	}
	p := defaultPolicy()
	p.MinTTL, p.ClearDF, p.RandomIPID = 64, true, true
	if !f.Rewrite(p) {
		t.Fatal("nothing rewritten")
	}
	h := f.Data[f.L3Off : f.L3Off+f.IPHdrLen]
	if h[8] != 64 || h[6]&0x40 != 0 || be16(h, 4) == 0x1234 || !VerifyIPv4HeaderChecksum(h) {
		t.Fatalf("header after rewrite: ttl %d flags %#x id %#x checksum ok %v", h[8], h[6], be16(h, 4), VerifyIPv4HeaderChecksum(h))
	}
	if f.FinishPartialChecksum() {
		t.Fatal("FinishPartialChecksum claims to have finished an aggregate")
	}
}

// TestOffloadPathAllocatesNothing: judging the offload state and counting
// segments are on the hot path.
func TestOffloadPathAllocatesNothing(t *testing.T) {
	b := tcp4Aggregate(t, 3000)
	p := defaultPolicy()
	var f Frame
	f.Decode(b, p)
	h := gro(&f, GSOTCPv4, 1448)
	n := testing.AllocsPerRun(200, func() {
		f.Decode(b, p)
		if f.CheckVNetHdr(h) != reason.None || f.Segments() != 3 {
			panic("aggregate refused")
		}
		CheckTransport(&f, true)
		f.Rewrite(p)
	})
	if n != 0 {
		t.Fatalf("%v allocations per frame", n)
	}
}
