package packet

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// synWithMSS is a SYN whose MSS option starts at an even or odd offset of
// the segment (a leading NOP moves it to an odd one).
func synWithMSS(mss uint16, oddOffset bool) *layers.TCP {
	t := tcpSYN()
	mssOpt := layers.TCPOption{OptionType: layers.TCPOptionKindMSS, OptionLength: 4, OptionData: []byte{byte(mss >> 8), byte(mss)}}
	nop := layers.TCPOption{OptionType: layers.TCPOptionKindNop}
	if oddOffset {
		t.Options = []layers.TCPOption{nop, mssOpt, nop, nop, nop}
	} else {
		t.Options = []layers.TCPOption{mssOpt, nop, nop, nop, nop}
	}
	return t
}

// mssOf returns the MSS option value of a decoded SYN, or 0.
func mssOf(f *Frame) uint16 {
	seg := f.Data[f.L4Off:f.L3End]
	hl := int(seg[12]>>4) * 4
	for i := 20; i+3 < hl; {
		switch seg[i] {
		case tcpOptEOL:
			return 0
		case tcpOptNOP:
			i++
			continue
		}
		if seg[i] == tcpOptMSS {
			return be16(seg, i+2)
		}
		if seg[i+1] < 2 {
			return 0
		}
		i += int(seg[i+1])
	}
	return 0
}

type rewriteCase struct {
	name    string
	frame   func(testing.TB) []byte
	policy  func(p *config.Policy)
	changed bool
	check   func(t *testing.T, before, after *Frame)
	lts     []gopacket.LayerType
}

func rewriteCases() []rewriteCase {
	lowTTL := func(ttl uint8) *layers.IPv4 {
		ip := ip4(layers.IPProtocolTCP)
		ip.TTL = ttl
		return ip
	}
	return []rewriteCase{
		{name: "min_ttl raises ipv4 ttl", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeTCP},
			frame:  func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), lowTTL(3), tcpACK()) },
			policy: func(p *config.Policy) { p.MinTTL = 64 },
			check: func(t *testing.T, _, a *Frame) {
				expect(t, "TTL", a.TTL, uint8(64))
			}},
		{name: "min_ttl leaves a higher ttl", changed: false,
			frame:  func(t testing.TB) []byte { return frameOf(t, eth(layers.EthernetTypeIPv4), lowTTL(65), tcpACK()) },
			policy: func(p *config.Policy) { p.MinTTL = 64 }},
		{name: "min_ttl raises ipv6 hop limit", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeUDP},
			frame: func(t testing.TB) []byte {
				ip := ip6(layers.IPProtocolUDP)
				ip.HopLimit = 1
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip, udp(), gopacket.Payload("x"))
			},
			policy: func(p *config.Policy) { p.MinTTL = 32 },
			check:  func(t *testing.T, _, a *Frame) { expect(t, "hop limit", a.TTL, uint8(32)) }},
		{name: "max_mss clamps even-offset mss", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeTCP},
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synWithMSS(1460, false))
			},
			policy: func(p *config.Policy) { p.MaxMSS = 1360 },
			check:  func(t *testing.T, _, a *Frame) { expect(t, "MSS", mssOf(a), uint16(1360)) }},
		{name: "max_mss clamps odd-offset mss over ipv6", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv6, layers.LayerTypeTCP},
			frame: func(t testing.TB) []byte {
				s := synWithMSS(0xfff0, true)
				s.ACK = true
				return frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP), s)
			},
			policy: func(p *config.Policy) { p.MaxMSS = 1220 },
			check:  func(t *testing.T, _, a *Frame) { expect(t, "MSS", mssOf(a), uint16(1220)) }},
		{name: "max_mss leaves a smaller mss", changed: false,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synWithMSS(536, false))
			},
			policy: func(p *config.Policy) { p.MaxMSS = 1360 }},
		{name: "max_mss ignores non-SYN segments", changed: false,
			frame: func(t testing.TB) []byte {
				s := synWithMSS(1460, false)
				s.SYN, s.ACK = false, true
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), s)
			},
			policy: func(p *config.Policy) { p.MaxMSS = 1360 }},
		{name: "clear_df", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv4},
			frame: func(t testing.TB) []byte {
				ip := ip4(layers.IPProtocolUDP)
				ip.Flags = layers.IPv4DontFragment
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, udp())
			},
			policy: func(p *config.Policy) { p.ClearDF = true },
			check: func(t *testing.T, _, a *Frame) {
				expect(t, "DontFrag", a.DontFrag, false)
			}},
		{name: "random_ip_id", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv4},
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())
			},
			policy: func(p *config.Policy) { p.RandomIPID = true }},
		{name: "all at once", changed: true, lts: []gopacket.LayerType{layers.LayerTypeIPv4, layers.LayerTypeTCP},
			frame: func(t testing.TB) []byte {
				ip := lowTTL(2)
				ip.Flags = layers.IPv4DontFragment
				return frameOf(t, eth(layers.EthernetTypeDot1Q), dot1q(9, layers.EthernetTypeIPv4), ip, synWithMSS(9000, true))
			},
			policy: func(p *config.Policy) { p.MinTTL, p.MaxMSS, p.ClearDF, p.RandomIPID = 64, 1400, true, true },
			check: func(t *testing.T, _, a *Frame) {
				expect(t, "TTL", a.TTL, uint8(64))
				expect(t, "MSS", mssOf(a), uint16(1400))
				expect(t, "DontFrag", a.DontFrag, false)
			}},
		{name: "fragments are never rewritten", changed: false,
			frame: func(t testing.TB) []byte {
				ip := lowTTL(2)
				ip.Flags = layers.IPv4MoreFragments | layers.IPv4DontFragment
				return frameOf(t, eth(layers.EthernetTypeIPv4), ip, synWithMSS(9000, false))
			},
			policy: func(p *config.Policy) { p.MinTTL, p.MaxMSS, p.ClearDF, p.RandomIPID = 64, 1400, true, true }},
		{name: "default policy rewrites nothing", changed: false,
			frame: func(t testing.TB) []byte {
				return frameOf(t, eth(layers.EthernetTypeIPv4), lowTTL(1), synWithMSS(9000, false))
			}},
	}
}

func TestRewrite(t *testing.T) {
	for _, c := range rewriteCases() {
		t.Run(c.name, func(t *testing.T) {
			p := defaultPolicy()
			if c.policy != nil {
				c.policy(p)
			}
			b := c.frame(t)
			orig := append([]byte(nil), b...)
			var before, f Frame
			if r := before.Decode(orig, p); r != reason.None {
				t.Fatalf("Decode: %v", r)
			}
			if r := f.Decode(b, p); r != reason.None {
				t.Fatalf("Decode: %v", r)
			}
			changed := f.Rewrite(p)
			if changed != c.changed {
				t.Fatalf("changed = %v, want %v", changed, c.changed)
			}
			if !changed && string(b) != string(orig) {
				t.Fatal("bytes changed but Rewrite reported none")
			}
			if changed && string(b) == string(orig) {
				t.Fatal("Rewrite reported a change but no byte changed")
			}
			// The rewritten frame decodes to what Rewrite left in f and
			// every checksum still holds.
			var again Frame
			if r := again.Decode(b, p); r != reason.None {
				t.Fatalf("Decode after rewrite: %v", r)
			}
			if r := CheckTransport(&again, true); r != reason.None {
				t.Fatalf("CheckTransport after rewrite: %v", r)
			}
			expect(t, "TTL field", again.TTL, f.TTL)
			expect(t, "DF field", again.DontFrag, f.DontFrag)
			expect(t, "IPID field", again.IPID, f.IPID)
			if len(c.lts) > 0 {
				verifyWithGopacket(t, b, c.lts...)
			}
			if c.check != nil {
				c.check(t, &before, &again)
			}
		})
	}
}

func TestRandomIPIDVaries(t *testing.T) {
	p := defaultPolicy()
	p.RandomIPID = true
	b := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolUDP), udp())
	var f Frame
	seen := map[uint32]bool{}
	for range 64 {
		if r := f.Decode(b, p); r != reason.None {
			t.Fatal(r)
		}
		f.Rewrite(p)
		seen[f.IPID] = true
	}
	// 64 draws from 65,536 values: fewer than 48 distinct ones means the
	// generator is not random.
	if len(seen) < 48 {
		t.Fatalf("only %d distinct IDs in 64 rewrites", len(seen))
	}
}

// TestRewriteKeepsBadChecksumBad makes sure incremental updates do not
// launder a segment that arrived with a wrong checksum.
func TestRewriteKeepsBadChecksumBad(t *testing.T) {
	p := defaultPolicy()
	p.MaxMSS = 1000
	for _, odd := range []bool{false, true} {
		b := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), synWithMSS(1460, odd))
		var f Frame
		if r := f.Decode(b, p); r != reason.None {
			t.Fatal(r)
		}
		b[f.L4Off+16] ^= 0x20
		if !f.Rewrite(p) {
			t.Fatal("no rewrite")
		}
		if r := CheckTransport(&f, true); r != reason.ChecksumInvalid {
			t.Fatalf("odd=%v: CheckTransport = %v, want checksum_invalid", odd, r)
		}
	}
}
