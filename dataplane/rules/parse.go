package rules

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Parse reads a rules file. On error it returns a *SyntaxError for the first
// problem in the file.
func Parse(src string) (*RuleSet, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, rs: &RuleSet{}, tableLine: map[string]int{}}
	if err := p.file(); err != nil {
		return nil, err
	}
	return p.rs, nil
}

type parser struct {
	toks        []token
	pos         int
	rs          *RuleSet
	tableLine   map[string]int // table name → line of its definition
	defaultLine int            // line of "set default", 0 if none yet
}

func (p *parser) peek() token { return p.toks[p.pos] }

func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) isWord(s string) bool {
	t := p.peek()
	return t.kind == tokWord && t.text == s
}

func errAt(t token, format string, args ...any) error {
	return &SyntaxError{t.line, t.col, fmt.Sprintf(format, args...)}
}

func (p *parser) expected(what string) error {
	t := p.peek()
	return errAt(t, "expected %s, found %s", what, t.describe())
}

func (p *parser) file() error {
	for {
		t := p.peek()
		switch {
		case t.kind == tokEOF:
			return nil
		case t.kind == tokNewline:
			p.next()
			continue
		case t.kind != tokWord:
			return p.expected("'pass', 'block', 'table' or 'set'")
		}
		var err error
		switch t.text {
		case "set":
			err = p.setStmt()
		case "table":
			err = p.tableStmt()
		case "pass", "block":
			err = p.ruleStmt()
		default:
			return p.expected("'pass', 'block', 'table' or 'set'")
		}
		if err != nil {
			return err
		}
	}
}

// endOfStatement consumes the newline that ends a statement.
func (p *parser) endOfStatement(what string) error {
	if p.peek().kind != tokNewline {
		return p.expected(what)
	}
	p.next()
	return nil
}

func (p *parser) setStmt() error {
	p.next() // set
	if !p.isWord("default") {
		return p.expected("'default' after 'set'")
	}
	p.next()
	t := p.peek()
	if t.kind != tokWord || (t.text != "pass" && t.text != "block") {
		return p.expected("'pass' or 'block' after 'set default'")
	}
	if p.defaultLine != 0 {
		return errAt(t, "the default policy is already set on line %d", p.defaultLine)
	}
	p.next()
	p.defaultLine = t.line
	if t.text == "block" {
		p.rs.Default = Block
	} else {
		p.rs.Default = Pass
	}
	return p.endOfStatement("end of line after 'set default " + t.text + "'")
}

func (p *parser) tableStmt() error {
	p.next() // table
	name, nameTok, err := p.tableName()
	if err != nil {
		return err
	}
	if line, dup := p.tableLine[name]; dup {
		return errAt(nameTok, "table <%s> is already defined on line %d", name, line)
	}
	tbl := Table{Name: name}
	if p.peek().kind != tokLBrace {
		return p.expected("'{' and the table's addresses")
	}
	p.next()
	for p.peek().kind != tokRBrace {
		if p.peek().kind == tokComma && len(tbl.Entries) > 0 {
			p.next()
			continue
		}
		t := p.peek()
		if t.kind != tokWord || !strings.ContainsAny(t.text, ".:") {
			return p.expected("an address, a prefix or '}'")
		}
		pfx, err := parsePrefix(t)
		if err != nil {
			return err
		}
		p.next()
		tbl.Entries = append(tbl.Entries, pfx)
	}
	p.next() // }
	p.tableLine[name] = nameTok.line
	p.rs.Tables = append(p.rs.Tables, tbl)
	return p.endOfStatement("end of line after the table")
}

// tableName reads "<name>".
func (p *parser) tableName() (string, token, error) {
	if p.peek().kind != tokLAngle {
		return "", token{}, p.expected("a table name in angle brackets, like <web>")
	}
	p.next()
	t := p.peek()
	if t.kind != tokWord || !validTableName(t.text) {
		return "", t, p.expected("a table name (letters, digits, '_' and '-')")
	}
	p.next()
	if p.peek().kind != tokRAngle {
		return "", t, p.expected("'>' after the table name")
	}
	p.next()
	return t.text, t, nil
}

func validTableName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parsePrefix reads an address or a prefix. A prefix must be written with
// its host bits zero: 10.0.0.1/24 is more likely a typo than a wish for
// 10.0.0.0/24, so it is refused rather than silently masked.
func parsePrefix(t token) (netip.Prefix, error) {
	s := t.text
	if strings.Contains(s, "%") {
		return netip.Prefix{}, errAt(t, "address %q has a zone; zones are not allowed in rules", s)
	}
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errAt(t, "expected an address or prefix, found %q", s)
		}
		if pfx.Addr().Is4In6() {
			return netip.Prefix{}, errAt(t, "write IPv4-mapped prefixes as plain IPv4")
		}
		if pfx.Masked() != pfx {
			return netip.Prefix{}, errAt(t, "prefix %s has bits set after the first %d; did you mean %s?", s, pfx.Bits(), pfx.Masked())
		}
		return pfx, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errAt(t, "expected an address or prefix, found %q", s)
	}
	if a.Is4In6() {
		return netip.Prefix{}, errAt(t, "write the IPv4-mapped address %s as plain IPv4 (%s)", s, a.Unmap())
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// ruleStmt reads one pass/block line.
func (p *parser) ruleStmt() error {
	var r Rule
	at := p.next()
	if at.text == "block" {
		r.Action = Block
	}
	var seenLog, seenQuick, seenDir bool
modifiers:
	for {
		t := p.peek()
		if t.kind != tokWord {
			break
		}
		switch t.text {
		case "log":
			if seenLog {
				return errAt(t, "'log' appears twice")
			}
			seenLog, r.Log = true, true
		case "quick":
			if seenQuick {
				return errAt(t, "'quick' appears twice")
			}
			seenQuick, r.Quick = true, true
		case "in", "out":
			if seenDir {
				return errAt(t, "a rule has at most one direction; leave it out to match both")
			}
			seenDir = true
			r.Dir = DirIn
			if t.text == "out" {
				r.Dir = DirOut
			}
		default:
			break modifiers
		}
		p.next()
	}
	sawFamily := p.isWord("inet") || p.isWord("inet6")
	if sawFamily {
		r.Family = Inet
		if p.next().text == "inet6" {
			r.Family = Inet6
		}
	}
	sawProto := p.isWord("proto")
	if sawProto {
		p.next()
		protos, err := p.protoList()
		if err != nil {
			return err
		}
		r.Protos = protos
	}
	sawHosts := p.isWord("all") || p.isWord("from") || p.isWord("to")
	if err := p.hosts(&r); err != nil {
		return err
	}
	sawOptions := p.isWord("icmp-type") || p.isWord("icmp6-type") || p.isWord("vlan")
	if err := p.options(&r); err != nil {
		return err
	}
	var modifiersLeft []string
	if !seenDir {
		modifiersLeft = append(modifiersLeft, "'in'", "'out'")
	}
	if !seenLog {
		modifiersLeft = append(modifiersLeft, "'log'")
	}
	if !seenQuick {
		modifiersLeft = append(modifiersLeft, "'quick'")
	}
	if err := p.endOfStatement(whatMayFollow(modifiersLeft, sawFamily, sawProto, sawHosts, sawOptions)); err != nil {
		return err
	}
	p.rs.Rules = append(p.rs.Rules, r)
	return nil
}

// whatMayFollow lists what could still come where a rule was expected to
// end, for the error message when something else is there.
func whatMayFollow(modifiersLeft []string, sawFamily, sawProto, sawHosts, sawOptions bool) string {
	var parts []string
	if !sawFamily && !sawProto && !sawHosts && !sawOptions {
		parts = append(parts, modifiersLeft...)
		parts = append(parts, "'inet'", "'inet6'")
	}
	if !sawProto && !sawHosts && !sawOptions {
		parts = append(parts, "'proto'")
	}
	if !sawHosts && !sawOptions {
		parts = append(parts, "'all'", "'from'", "'to'")
	}
	parts = append(parts, "'icmp-type'", "'icmp6-type'", "'vlan'")
	return strings.Join(parts, ", ") + " or end of line"
}

var protoNames = map[string]uint8{
	"icmp": ProtoICMP, "tcp": ProtoTCP, "udp": ProtoUDP, "ipv6-icmp": ProtoICMPv6, "icmp6": ProtoICMPv6,
	"gre": 47, "esp": 50, "ah": 51, "sctp": 132,
}

func (p *parser) protoList() ([]uint8, error) {
	var seen []uint8
	return itemOrList(p, "a protocol (tcp, udp, icmp, ipv6-icmp or a number)", "protocol", func(what string) (uint8, error) {
		t := p.peek()
		v, err := p.proto(what)
		if err != nil {
			return 0, err
		}
		if slices.Contains(seen, v) {
			return 0, errAt(t, "protocol %s is listed twice", t.text)
		}
		seen = append(seen, v)
		return v, nil
	})
}

// itemOrList parses one item, or a '{ … }' list of at least one (commas
// between items optional). item parses one, told what an error should say
// was expected there; noun names the items when a list is empty.
func itemOrList[T any](p *parser, itemWhat, noun string, item func(what string) (T, error)) ([]T, error) {
	if p.peek().kind != tokLBrace {
		v, err := item(itemWhat + " or '{'")
		if err != nil {
			return nil, err
		}
		return []T{v}, nil
	}
	p.next()
	var out []T
	for p.peek().kind != tokRBrace {
		if p.peek().kind == tokComma && len(out) > 0 {
			p.next()
			continue
		}
		v, err := item(itemWhat + " or '}'")
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if len(out) == 0 {
		return nil, p.expected("at least one " + noun + " in the list")
	}
	p.next()
	return out, nil
}

func (p *parser) proto(what string) (uint8, error) {
	t := p.peek()
	if t.kind != tokWord {
		return 0, p.expected(what)
	}
	if v, ok := protoNames[t.text]; ok {
		p.next()
		return v, nil
	}
	n, err := strconv.ParseUint(t.text, 10, 8)
	if err != nil {
		return 0, p.expected(what)
	}
	p.next()
	return uint8(n), nil
}

// hosts reads "all" or the optional from and to parts.
func (p *parser) hosts(r *Rule) error {
	if p.isWord("all") {
		p.next()
		return nil
	}
	if p.isWord("from") {
		p.next()
		if err := p.endpoint(r, &r.From); err != nil {
			return err
		}
	}
	if p.isWord("to") {
		p.next()
		if err := p.endpoint(r, &r.To); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) endpoint(r *Rule, e *Endpoint) error {
	if p.isWord("any") {
		p.next()
	} else {
		addrs, err := p.hostList(r)
		if err != nil {
			return err
		}
		e.Addrs = addrs
	}
	if p.isWord("port") {
		portTok := p.next()
		if !portsAllowed(r.Protos) {
			return errAt(portTok, "'port' needs proto tcp or udp (or a list of only those) earlier in the rule")
		}
		ports, err := p.portList()
		if err != nil {
			return err
		}
		e.Ports = ports
	}
	return nil
}

func portsAllowed(protos []uint8) bool {
	if len(protos) == 0 {
		return false
	}
	for _, v := range protos {
		if v != ProtoTCP && v != ProtoUDP {
			return false
		}
	}
	return true
}

const hostWhat = "'any', an address, a prefix, a <table> or '{'"

func (p *parser) hostList(r *Rule) ([]Host, error) {
	not := false
	if p.peek().kind == tokBang {
		p.next()
		not = true
	}
	if p.peek().kind != tokLBrace {
		h, err := p.host(r, not, hostWhat)
		if err != nil {
			return nil, err
		}
		return []Host{h}, nil
	}
	p.next()
	var out []Host
	for p.peek().kind != tokRBrace {
		if p.peek().kind == tokComma && len(out) > 0 {
			p.next()
			continue
		}
		itemNot := not
		if p.peek().kind == tokBang {
			if not {
				return nil, errAt(p.peek(), "'!' inside a negated list; write the list without the outer '!'")
			}
			p.next()
			itemNot = true
		}
		h, err := p.host(r, itemNot, "an address, a prefix, a <table> or '}'")
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, p.expected("at least one address in the list")
	}
	p.next()
	return out, nil
}

func (p *parser) host(r *Rule, not bool, what string) (Host, error) {
	t := p.peek()
	if t.kind == tokLAngle {
		name, nameTok, err := p.tableName()
		if err != nil {
			return Host{}, err
		}
		if _, ok := p.tableLine[name]; !ok {
			return Host{}, errAt(nameTok, "unknown table <%s>; define it with 'table <%s> { ... }' before this rule", name, name)
		}
		return Host{Not: not, Table: name}, nil
	}
	if t.kind != tokWord || t.text == "any" {
		if t.text == "any" {
			return Host{}, errAt(t, "'any' cannot be negated or listed; leave the host out instead")
		}
		return Host{}, p.expected(what)
	}
	pfx, err := parsePrefix(t)
	if err != nil {
		if !strings.ContainsAny(t.text, ".:") {
			return Host{}, p.expected(what)
		}
		return Host{}, err
	}
	if r.Family == Inet && !pfx.Addr().Is4() {
		return Host{}, errAt(t, "%s is an IPv6 address but the rule says inet", t.text)
	}
	if r.Family == Inet6 && !pfx.Addr().Is6() {
		return Host{}, errAt(t, "%s is an IPv4 address but the rule says inet6", t.text)
	}
	p.next()
	return Host{Not: not, Prefix: pfx}, nil
}

func (p *parser) portList() ([]PortRange, error) {
	return itemOrList(p, "a port number", "port", p.portRange)
}

func (p *parser) portRange(what string) (PortRange, error) {
	t := p.peek()
	if t.kind != tokWord {
		return PortRange{}, p.expected(what)
	}
	lo, hi, isRange := strings.Cut(t.text, ":")
	l, err := strconv.ParseUint(lo, 10, 16)
	if err != nil {
		return PortRange{}, p.expected(what)
	}
	h := l
	if isRange {
		h, err = strconv.ParseUint(hi, 10, 16)
		if err != nil {
			return PortRange{}, errAt(t, "expected a port range like 1000:2000, found %q", t.text)
		}
		if h < l {
			return PortRange{}, errAt(t, "port range %s ends before it starts", t.text)
		}
	}
	p.next()
	return PortRange{uint16(l), uint16(h)}, nil
}

// options reads the trailing icmp-type / icmp6-type / vlan parts, in any
// order, each at most once.
func (p *parser) options(r *Rule) error {
	seenICMP, seenVLAN := false, false
	for {
		t := p.peek()
		switch {
		case t.kind == tokWord && (t.text == "icmp-type" || t.text == "icmp6-type"):
			if seenICMP {
				return errAt(t, "a rule has at most one icmp-type or icmp6-type")
			}
			seenICMP = true
			want := uint8(ProtoICMP)
			if t.text == "icmp6-type" {
				want = ProtoICMPv6
			}
			if len(r.Protos) != 1 || r.Protos[0] != want {
				return errAt(t, "'%s' needs 'proto %s' earlier in the rule", t.text, protoName(want))
			}
			p.next()
			types, err := p.icmpTypes(want == ProtoICMPv6)
			if err != nil {
				return err
			}
			r.ICMPTypes = types
		case t.kind == tokWord && t.text == "vlan":
			if seenVLAN {
				return errAt(t, "'vlan' appears twice")
			}
			seenVLAN = true
			p.next()
			v := p.peek()
			n, err := strconv.ParseUint(v.text, 10, 16)
			if v.kind != tokWord || err != nil || n < 1 || n > 4094 {
				return p.expected("a VLAN ID from 1 to 4094")
			}
			p.next()
			r.VLAN = uint16(n)
		default:
			return nil
		}
	}
}

func (p *parser) icmpTypes(v6 bool) ([]uint8, error) {
	return itemOrList(p, "an ICMP type (a number or a name like echoreq)", "ICMP type", func(what string) (uint8, error) {
		return p.icmpType(v6, what)
	})
}

func (p *parser) icmpType(v6 bool, what string) (uint8, error) {
	t := p.peek()
	if t.kind != tokWord {
		return 0, p.expected(what)
	}
	if v, ok := icmpTypeByName(t.text, v6); ok {
		p.next()
		return v, nil
	}
	n, err := strconv.ParseUint(t.text, 10, 8)
	if err != nil {
		return 0, p.expected(what)
	}
	p.next()
	return uint8(n), nil
}
