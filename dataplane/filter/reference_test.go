package filter

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/rackwall/rackwall/dataplane/rules"
)

// The compiled lookup is checked against rules.RuleSet.Match, the plain
// reading of the semantics (quick rules first, then the rest, each top to
// bottom), on random rule sets and packets
// built from a small pool of addresses and ports so that rules and packets
// actually meet.

var (
	v4Pool   = []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "10.1.2.128/25", "10.2.0.0/15", "192.0.2.0/24", "192.0.2.77/32", "0.0.0.0/0", "10.1.2.4/31"}
	v6Pool   = []string{"fd00::/8", "fd77::/64", "fd77::21/128", "fd77:0:0:1::/64", "2001:db8::/32", "::/0", "fd77::/16"}
	portPool = []rules.PortRange{{Lo: 80, Hi: 80}, {Lo: 443, Hi: 443}, {Lo: 1000, Hi: 2000}, {Lo: 1500, Hi: 1500}, {Lo: 0, Hi: 1023}, {Lo: 53, Hi: 53}, {Lo: 60000, Hi: 65535}}
)

func randHosts(r *rand.Rand, tables []string) []rules.Host {
	if r.IntN(3) == 0 {
		return nil
	}
	n := 1 + r.IntN(3)
	var hs []rules.Host
	for i := 0; i < n; i++ {
		h := rules.Host{Not: r.IntN(5) == 0}
		switch k := r.IntN(10); {
		case k == 0 && len(tables) > 0:
			h.Table = tables[r.IntN(len(tables))]
		case k < 6:
			h.Prefix = netip.MustParsePrefix(v4Pool[r.IntN(len(v4Pool))])
		default:
			h.Prefix = netip.MustParsePrefix(v6Pool[r.IntN(len(v6Pool))])
		}
		hs = append(hs, h)
	}
	return hs
}

func randPorts(r *rand.Rand) []rules.PortRange {
	if r.IntN(2) == 0 {
		return nil
	}
	n := 1 + r.IntN(2)
	var ps []rules.PortRange
	for i := 0; i < n; i++ {
		ps = append(ps, portPool[r.IntN(len(portPool))])
	}
	return ps
}

func randRuleSet(r *rand.Rand, n int) *rules.RuleSet {
	rs := &rules.RuleSet{Default: rules.Action(r.IntN(2))}
	names := []string{"a", "b"}
	for _, name := range names {
		t := rules.Table{Name: name}
		for i := 0; i < 1+r.IntN(4); i++ {
			if r.IntN(2) == 0 {
				t.Entries = append(t.Entries, netip.MustParsePrefix(v4Pool[r.IntN(len(v4Pool))]))
			} else {
				t.Entries = append(t.Entries, netip.MustParsePrefix(v6Pool[r.IntN(len(v6Pool))]))
			}
		}
		rs.Tables = append(rs.Tables, t)
	}
	protoChoices := [][]uint8{nil, {6}, {17}, {6, 17}, {1}, {58}, {47}, {17, 6}}
	for i := 0; i < n; i++ {
		ru := rules.Rule{Action: rules.Action(r.IntN(2)), Dir: rules.Dir(r.IntN(3)), Log: r.IntN(4) == 0, Quick: r.IntN(3) == 0}
		ru.Protos = protoChoices[r.IntN(len(protoChoices))]
		ru.From.Addrs = randHosts(r, names)
		ru.To.Addrs = randHosts(r, names)
		if len(ru.Protos) > 0 && (ru.Protos[0] == 6 || ru.Protos[0] == 17) {
			ru.From.Ports = randPorts(r)
			if r.IntN(3) > 0 {
				ru.To.Ports = randPorts(r)
			}
		}
		if len(ru.Protos) == 1 && (ru.Protos[0] == 1 || ru.Protos[0] == 58) && r.IntN(2) == 0 {
			ru.ICMPTypes = []uint8{uint8(r.IntN(4)), 8, 128}
		}
		if r.IntN(8) == 0 {
			ru.VLAN = uint16(1 + r.IntN(3))
		}
		rs.Rules = append(rs.Rules, ru)
	}
	return rs
}

// randAddr picks an address inside (or just outside) a random pool prefix.
func randAddr(r *rand.Rand, v6 bool) netip.Addr {
	pool := v4Pool
	if v6 {
		pool = v6Pool
	}
	p := netip.MustParsePrefix(pool[r.IntN(len(pool))])
	b := p.Addr().AsSlice()
	host := len(b)*8 - p.Bits()
	for i := len(b) - 1; i >= 0 && host > 0; i-- {
		bits := min(host, 8)
		b[i] |= byte(r.IntN(1 << bits))
		host -= bits
	}
	if r.IntN(6) == 0 {
		b[len(b)-1] ^= 1 << r.IntN(8)
		b[r.IntN(len(b))] ^= 1 << r.IntN(8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func randPacket(r *rand.Rand) rules.Packet {
	v6 := r.IntN(3) == 0
	pk := rules.Packet{Dir: rules.DirIn + rules.Dir(r.IntN(2)), Src: randAddr(r, v6), Dst: randAddr(r, v6), VLAN: uint16(r.IntN(4))}
	protos := []uint8{6, 17, 6, 17, 1, 58, 47, 50}
	pk.Proto = protos[r.IntN(len(protos))]
	if pk.Proto == 6 || pk.Proto == 17 {
		ports := []uint16{80, 443, 1000, 1500, 2000, 2001, 53, 1023, 1024, 65535, 60000, 22}
		pk.SrcPort, pk.DstPort = ports[r.IntN(len(ports))], ports[r.IntN(len(ports))]
	}
	if pk.Proto == 1 || pk.Proto == 58 {
		pk.ICMPType = []uint8{0, 1, 2, 3, 8, 128, 135}[r.IntN(7)]
	}
	return pk
}

func queryOf(pk *rules.Packet) query {
	q := query{fam: familyOf(pk.Src), dir: int(pk.Dir) - 1, proto: pk.Proto, src: addrU128(pk.Src), dst: addrU128(pk.Dst), vlan: pk.VLAN}
	if pk.Proto == 6 || pk.Proto == 17 {
		q.hasPorts, q.sport, q.dport = true, pk.SrcPort, pk.DstPort
	}
	if pk.Proto == 1 && pk.Src.Is4() || pk.Proto == 58 && pk.Src.Is6() {
		q.isICMP, q.icmpType = true, pk.ICMPType
	}
	return q
}

func TestCompiledMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	quickOverrides := 0 // packets a quick rule decided although a rule above it matched too
	for round := 0; round < 300; round++ {
		rs := randRuleSet(r, 1+r.IntN(60))
		// The generated set must be expressible in the language.
		again, err := rules.Parse(rs.String())
		if err != nil {
			t.Fatalf("generated rule set does not parse: %v\n%s", err, rs)
		}
		c := compile(again, 1)
		for i := 0; i < 400; i++ {
			pk := randPacket(r)
			if pk.Proto == 1 && pk.Src.Is6() || pk.Proto == 58 && pk.Src.Is4() {
				// ICMP of the other family: the filter reads no type from
				// it, which the reference cannot express; use another protocol.
				pk.Proto, pk.ICMPType = 50, 0
			}
			q := queryOf(&pk)
			want := again.Match(&pk)
			got := -1
			if cr := c.match(&q); cr != nil {
				got = int(cr.file)
			}
			if got != want {
				t.Fatalf("round %d: packet %+v: compiled rule %d, reference %d\n%s", round, pk, got, want, again)
			}
			if want >= 0 && again.Rules[want].Quick && firstInFile(again, &pk) < want {
				quickOverrides++
			}
		}
	}
	// Without these the comparison would not show that quick is honoured.
	if quickOverrides < 100 {
		t.Fatalf("only %d packets were decided by a quick rule below another matching rule", quickOverrides)
	}
	t.Logf("%d packets decided by a quick rule below another matching rule", quickOverrides)
}

// firstInFile is the first rule in file order that matches, ignoring quick.
func firstInFile(rs *rules.RuleSet, pk *rules.Packet) int {
	for i := range rs.Rules {
		if rs.Rules[i].Matches(pk, rs.Table) {
			return i
		}
	}
	return -1
}

func TestPrefixIndexNesting(t *testing.T) {
	var entries []prefixEntry
	for i, p := range []string{"10.0.0.0/8", "10.1.0.0/16", "10.1.2.0/24", "10.1.2.3/32", "10.1.3.0/24", "0.0.0.0/0", "10.1.2.3/32"} {
		entries = append(entries, prefixEntry{netip.MustParsePrefix(p), int32(i)})
	}
	x := newPrefixIndex(entries, 0)
	chain := func(a string) string {
		s := ""
		for n := x.innermost(addrU128(netip.MustParseAddr(a))); n >= 0; n = x.nodes[n].parent {
			s += fmt.Sprint(x.nodes[n].rules)
		}
		return s
	}
	cases := map[string]string{
		"10.1.2.3":        "[3 6][2][1][0][5]",
		"10.1.2.4":        "[2][1][0][5]",
		"10.1.3.255":      "[4][1][0][5]",
		"10.2.0.0":        "[0][5]",
		"11.0.0.0":        "[5]",
		"0.0.0.0":         "[5]",
		"255.255.255.255": "[5]",
	}
	for a, want := range cases {
		if got := chain(a); got != want {
			t.Errorf("%s: chain %s, want %s", a, got, want)
		}
	}
}

// TestLargePrefixIndex checks the jump table of large indexes against a
// plain binary search and against walking every prefix.
func TestLargePrefixIndex(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	for fam := 0; fam < 2; fam++ {
		var entries []prefixEntry
		for i := 0; i < 3000; i++ {
			var p netip.Prefix
			if fam == 0 {
				a := netip.AddrFrom4([4]byte{10, byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
				p, _ = a.Prefix(8 + r.IntN(25))
			} else {
				a := netip.AddrFrom16([16]byte{0xfd, 0, byte(r.IntN(4)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
				p, _ = a.Prefix(8 + r.IntN(121))
			}
			entries = append(entries, prefixEntry{p, int32(i)})
		}
		x := newPrefixIndex(entries, fam)
		if x.jump == nil {
			t.Fatal("large index built without a jump table")
		}
		for i := 0; i < 4000; i++ {
			var a netip.Addr
			if fam == 0 {
				a = netip.AddrFrom4([4]byte{byte(8 + r.IntN(4)), byte(r.IntN(4)), byte(r.IntN(256)), byte(r.IntN(256))})
			} else {
				a = netip.AddrFrom16([16]byte{0xfd, 0, byte(r.IntN(4)), byte(r.IntN(256)), 15: byte(r.IntN(256))})
			}
			u := addrU128(a)
			got := x.innermost(u)
			if want := x.node[searchLE(x.starts, u)]; got != want {
				t.Fatalf("%s: jump lookup %d, binary search %d", a, got, want)
			}
			// The chain must hold exactly the rules of the prefixes containing a.
			var chain []int32
			for n := got; n >= 0; n = x.nodes[n].parent {
				chain = append(chain, x.nodes[n].rules...)
			}
			var want []int32
			for _, e := range entries {
				if e.prefix.Contains(a) {
					want = append(want, e.rule)
				}
			}
			slices.Sort(chain)
			if !slices.Equal(chain, want) {
				t.Fatalf("%s: chain rules %v, containing prefixes %v", a, chain, want)
			}
		}
	}
}
