package rules

import (
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func mustParse(t *testing.T, src string) *RuleSet {
	t.Helper()
	rs, err := Parse(src)
	if err != nil {
		t.Fatalf("Parse(%q): %v", src, err)
	}
	return rs
}

func TestIssueExampleStructure(t *testing.T) {
	rs := mustParse(t, `# comment
set default block
table <web> { 10.77.0.21, 10.77.0.22, fd77::/64 }
pass in proto tcp from any to <web> port { 80, 443, 5201 }
pass in proto icmp
pass in proto ipv6-icmp
block in quick from 203.0.113.0/24
pass out all
`)
	if rs.Default != Block {
		t.Errorf("default = %v, want block", rs.Default)
	}
	web := rs.Table("web")
	if web == nil || len(web.Entries) != 3 || web.Entries[2] != netip.MustParsePrefix("fd77::/64") ||
		web.Entries[0] != netip.MustParsePrefix("10.77.0.21/32") {
		t.Fatalf("table web = %+v", web)
	}
	if len(rs.Rules) != 5 {
		t.Fatalf("%d rules, want 5", len(rs.Rules))
	}
	r := rs.Rules[0]
	if r.Action != Pass || r.Dir != DirIn || len(r.Protos) != 1 || r.Protos[0] != ProtoTCP ||
		len(r.From.Addrs) != 0 || len(r.To.Addrs) != 1 || r.To.Addrs[0].Table != "web" ||
		len(r.To.Ports) != 3 || r.To.Ports[2] != (PortRange{5201, 5201}) {
		t.Errorf("rule 0 = %+v", r)
	}
	if b := rs.Rules[3]; b.Action != Block || !b.Quick || b.From.Addrs[0].Prefix != netip.MustParsePrefix("203.0.113.0/24") {
		t.Errorf("rule 3 = %+v", b)
	}
	if o := rs.Rules[4]; o.Dir != DirOut || !o.From.isAny() || !o.To.isAny() || o.Protos != nil {
		t.Errorf("rule 4 = %+v", o)
	}
}

func TestDefaultIsPassWithoutSet(t *testing.T) {
	rs := mustParse(t, "block in proto tcp to any port 23\n")
	if rs.Default != Pass {
		t.Fatal("a rules file without 'set default' must pass by default")
	}
	if (&RuleSet{}).Decide(&Packet{Dir: DirIn, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.0.1")}) != Pass {
		t.Fatal("an empty rule set must pass everything")
	}
}

func TestFirstMatchDecides(t *testing.T) {
	rs := mustParse(t, `
pass in proto tcp to 10.0.0.1 port 22
block in proto tcp to 10.0.0.0/24
pass in all
`)
	ssh := &Packet{Dir: DirIn, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.0.0.1"), Proto: ProtoTCP, SrcPort: 40000, DstPort: 22}
	if got := rs.Match(ssh); got != 0 {
		t.Errorf("ssh matched rule %d, want 0 (first match, the later block must not override)", got)
	}
	web := *ssh
	web.DstPort = 80
	if got := rs.Match(&web); got != 1 || rs.Decide(&web) != Block {
		t.Errorf("port 80 matched rule %d, want 1 (block)", got)
	}
	udp := web
	udp.Proto = ProtoUDP
	if got := rs.Match(&udp); got != 2 {
		t.Errorf("udp matched rule %d, want 2", got)
	}
}

func TestQuickIsKept(t *testing.T) {
	a := mustParse(t, "block quick in from 203.0.113.0/24\n")
	b := mustParse(t, "block in from 203.0.113.0/24\n")
	if !a.Rules[0].Quick || b.Rules[0].Quick {
		t.Fatalf("Quick = %v and %v, want true and false", a.Rules[0].Quick, b.Rules[0].Quick)
	}
	if a.Equal(b) {
		t.Fatal("a quick rule and the same rule without quick compare equal")
	}
	if got, want := a.Rules[0].String(), "block in quick from 203.0.113.0/24 to any"; got != want {
		t.Fatalf("canonical rule %q, want %q", got, want)
	}
}

// The reference example read aloud: 203.0.113.0/24 is blocked, also from
// the web ports the pass rule above the block opens.
func TestQuickRulesComeFirst(t *testing.T) {
	rs := mustParse(t, issueRulesForShadow)
	if got, want := rs.EvalOrder(), []int{3, 0, 1, 2, 4}; !slices.Equal(got, want) {
		t.Fatalf("EvalOrder = %v, want %v", got, want)
	}
	web := netip.MustParseAddr("10.77.0.21")
	cases := []struct {
		name string
		pk   Packet
		rule int
		act  Action
	}{
		{"listed network to a web port", Packet{Dir: DirIn, Src: netip.MustParseAddr("203.0.113.7"), Dst: web, Proto: ProtoTCP, SrcPort: 40000, DstPort: 80}, 3, Block},
		{"listed network, ping", Packet{Dir: DirIn, Src: netip.MustParseAddr("203.0.113.7"), Dst: web, Proto: ProtoICMP, ICMPType: 8}, 3, Block},
		{"other network to a web port", Packet{Dir: DirIn, Src: netip.MustParseAddr("198.51.100.7"), Dst: web, Proto: ProtoTCP, SrcPort: 40000, DstPort: 80}, 0, Pass},
		{"other network to a closed port", Packet{Dir: DirIn, Src: netip.MustParseAddr("198.51.100.7"), Dst: web, Proto: ProtoTCP, SrcPort: 40000, DstPort: 8080}, -1, Block},
		{"rack host out to the listed network", Packet{Dir: DirOut, Src: web, Dst: netip.MustParseAddr("203.0.113.7"), Proto: ProtoTCP, SrcPort: 40000, DstPort: 443}, 4, Pass},
	}
	for _, c := range cases {
		if got := rs.Match(&c.pk); got != c.rule {
			t.Errorf("%s: rule %d decides, want %d", c.name, got, c.rule)
		}
		if got := rs.Decide(&c.pk); got != c.act {
			t.Errorf("%s: %v, want %v", c.name, got, c.act)
		}
	}
}

// Among quick rules, and among the others, the first in the file decides.
func TestQuickKeepsFileOrderWithinEachGroup(t *testing.T) {
	rs := mustParse(t, `
pass in proto tcp to any port 22
block in quick proto tcp to 10.0.0.0/24
pass in quick proto tcp to 10.0.0.1
block in proto tcp
pass in quick proto udp
`)
	pk := func(dst string, proto uint8, port uint16) *Packet {
		return &Packet{Dir: DirIn, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr(dst), Proto: proto, SrcPort: 40000, DstPort: port}
	}
	cases := []struct {
		pk   *Packet
		want int
	}{
		{pk("10.0.0.1", ProtoTCP, 22), 1},  // two quick rules match: the upper one
		{pk("10.0.1.1", ProtoTCP, 22), 0},  // no quick rule: first of the rest
		{pk("10.0.1.1", ProtoTCP, 80), 3},  // ...
		{pk("10.0.1.1", ProtoUDP, 22), 4},  // a quick rule at the bottom still comes first
		{pk("10.0.0.1", ProtoICMP, 0), -1}, // nothing
	}
	for i, c := range cases {
		if got := rs.Match(c.pk); got != c.want {
			t.Errorf("case %d: rule %d decides, want %d", i, got, c.want)
		}
	}
}

func TestNegationSemantics(t *testing.T) {
	rs := mustParse(t, "block from { 10.0.0.0/8, !10.9.0.0/16 }\nblock to !192.0.2.0/24\n")
	tbl := rs.Table
	from := &rs.Rules[0].From
	for addr, want := range map[string]bool{"10.1.2.3": true, "10.9.0.1": false, "11.0.0.1": false, "fd00::1": false} {
		if got := from.MatchesAddr(netip.MustParseAddr(addr), tbl); got != want {
			t.Errorf("{10/8, !10.9/16} matches %s = %v, want %v", addr, got, want)
		}
	}
	to := &rs.Rules[1].To
	for addr, want := range map[string]bool{"192.0.2.7": false, "198.51.100.1": true, "2001:db8::1": true} {
		if got := to.MatchesAddr(netip.MustParseAddr(addr), tbl); got != want {
			t.Errorf("!192.0.2.0/24 matches %s = %v, want %v", addr, got, want)
		}
	}
}

func TestTablesAndFamilies(t *testing.T) {
	rs := mustParse(t, "table <web> { 10.77.0.21, fd77::/64 }\npass to <web>\npass inet6 all\n")
	v4 := &Packet{Dir: DirIn, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.77.0.21")}
	v6 := &Packet{Dir: DirOut, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("fd77::99")}
	other := &Packet{Dir: DirIn, Src: netip.MustParseAddr("2001:db8::1"), Dst: netip.MustParseAddr("fd78::1")}
	other4 := &Packet{Dir: DirIn, Src: netip.MustParseAddr("192.0.2.1"), Dst: netip.MustParseAddr("10.77.0.22")}
	if rs.Match(v4) != 0 || rs.Match(v6) != 0 || rs.Match(other) != 1 || rs.Match(other4) != -1 {
		t.Errorf("matches: %d %d %d %d", rs.Match(v4), rs.Match(v6), rs.Match(other), rs.Match(other4))
	}
}

func TestPortsRangesAndVLAN(t *testing.T) {
	rs := mustParse(t, "pass proto udp from any port 53 to any port { 1000:2000, 3000 } vlan 10\n")
	pk := &Packet{Dir: DirOut, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Proto: ProtoUDP, SrcPort: 53, DstPort: 1000, VLAN: 10}
	cases := []struct {
		mut  func(p *Packet)
		want int
	}{
		{func(p *Packet) {}, 0},
		{func(p *Packet) { p.DstPort = 2000 }, 0},
		{func(p *Packet) { p.DstPort = 2001 }, -1},
		{func(p *Packet) { p.DstPort = 3000 }, 0},
		{func(p *Packet) { p.SrcPort = 54 }, -1},
		{func(p *Packet) { p.VLAN = 0 }, -1},
		{func(p *Packet) { p.Proto = ProtoTCP }, -1},
	}
	for i, c := range cases {
		p := *pk
		c.mut(&p)
		if got := rs.Match(&p); got != c.want {
			t.Errorf("case %d: match %d, want %d", i, got, c.want)
		}
	}
}

func TestICMPTypeNames(t *testing.T) {
	rs := mustParse(t, "pass proto icmp icmp-type echoreq\npass proto ipv6-icmp icmp6-type { echoreq, 2 }\n")
	if rs.Rules[0].ICMPTypes[0] != 8 || rs.Rules[1].ICMPTypes[0] != 128 || rs.Rules[1].ICMPTypes[1] != 2 {
		t.Fatalf("types: %v %v", rs.Rules[0].ICMPTypes, rs.Rules[1].ICMPTypes)
	}
	if !strings.Contains(rs.String(), "icmp6-type { echoreq, toobig }") {
		t.Fatalf("canonical names missing:\n%s", rs)
	}
}

func TestErrorPositions(t *testing.T) {
	cases := []struct {
		src       string
		line, col int
		msg       string
	}{
		{"set default block\n\npass in proto tcp to any port http\n", 3, 31, `expected a port number or '{', found "http"`},
		{"pass in\npass to <nope>\n", 2, 10, "unknown table <nope>"},
		{"pass in proto tcp to any port { 80, ssh }\n", 1, 37, `expected a port number or '}', found "ssh"`},
		{"pass to 10.0.0.0/33\n", 1, 9, "expected an address or prefix"},
		{"table <x> { 1.2.3.4 }\n\tpass to <x> vlan 0\n", 2, 19, "VLAN ID"},
		{"pass to fe80::1%eth0\n", 1, 9, "zone"},
		{"pass to ::ffff:10.0.0.1\n", 1, 9, "plain IPv4"},
		{"pass proto tcp from any port 1:2:3\n", 1, 30, "port range"},
		{"frobnicate\n", 1, 1, "expected 'pass', 'block', 'table' or 'set'"},
		{"pass all \\ x\n", 1, 10, "backslash"},
		{"pass proto { tcp, tcp }\n", 1, 19, "listed twice"},
		{"pass proto { icmp udp } icmp-type 3\n", 1, 25, "needs 'proto icmp'"},
		{"table <é> { }\n", 1, 8, "unexpected character 'é'"},
		{"pass to { 10.0.0.1 !10.0.0.2 } to any\n", 1, 32, "end of line"},
	}
	for _, c := range cases {
		_, err := Parse(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a SyntaxError", c.src, err)
			continue
		}
		if se.Line != c.line || se.Col != c.col || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("%q: got %v, want line %d, column %d containing %q", c.src, err, c.line, c.col, c.msg)
		}
	}
}

func TestCanonicalIsStable(t *testing.T) {
	src := "pass in log quick inet6 proto tcp from { fd00::/8 !fd00:1::/32 } port 1:1024 to <t> port 443 vlan 5\n"
	if _, err := Parse(src); err == nil {
		t.Fatal("table t is undefined, expected an error")
	}
	rs := mustParse(t, "table <t> { 2001:db8::1 }\n"+src)
	once := rs.String()
	twice := mustParse(t, once).String()
	if once != twice {
		t.Fatalf("canonical text not stable:\n%s\n%s", once, twice)
	}
	want := "pass in log quick inet6 proto tcp from { fd00::/8, !fd00:1::/32 } port 1:1024 to <t> port 443 vlan 5\n"
	if !strings.HasSuffix(once, want) {
		t.Fatalf("canonical:\n%s\nwant suffix:\n%s", once, want)
	}
}

func TestShadowed(t *testing.T) {
	rs := mustParse(t, `
block in all
pass in proto tcp to any port 80
pass out proto tcp to any port 80
pass out proto { tcp, udp }
pass out inet proto udp to 10.0.0.1
pass out proto icmp
pass proto tcp
`)
	got := rs.Shadowed()
	want := []Shadow{{Rule: 1, By: 0}, {Rule: 4, By: 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("shadowed = %+v, want %+v", got, want)
	}
	if s := mustParse(t, issueRulesForShadow).Shadowed(); len(s) != 0 {
		t.Fatalf("the reference example has no shadowed rules, got %+v", s)
	}
}

// Shadowing follows the order rules are checked in: a quick rule hides
// rules written above it, and a quick rule is not hidden by a broader rule
// above it that is not quick.
func TestShadowedFollowsEvaluationOrder(t *testing.T) {
	rs := mustParse(t, `
pass in proto tcp to any port 80
pass out proto udp
block in quick proto tcp
pass all
pass out quick proto udp to 10.0.0.1
pass in quick proto { tcp, udp }
block out proto icmp
`)
	got := rs.Shadowed()
	// Not {4, 1}: rule 4 is quick and so checked before rule 1.
	want := []Shadow{{Rule: 0, By: 2}, {Rule: 6, By: 3}}
	if !slices.Equal(got, want) {
		t.Fatalf("shadowed = %+v, want %+v", got, want)
	}
}

const issueRulesForShadow = `set default block
table <web> { 10.77.0.21, 10.77.0.22, fd77::/64 }
pass in proto tcp from any to <web> port { 80, 443, 5201 }
pass in proto icmp
pass in proto ipv6-icmp
block in quick from 203.0.113.0/24
pass out all
`
