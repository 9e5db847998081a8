package filter

import (
	"math"
	"net/netip"

	"github.com/rackwall/rackwall/dataplane/rules"
)

// compiled is a RuleSet turned into lookup structures. It is immutable once
// built, so the packet loop can read it while Load builds the next one.
//
// The rules are held in the order they are checked (rules.RuleSet.EvalOrder:
// quick rules first, each group in file order), and every index below
// speaks of positions in that order, so "lowest position that matches" is
// the deciding rule; each compiled rule remembers its index in the file for
// Verdict.Rule.
//
// Rules are first split into buckets by (family, direction, protocol): a
// packet only ever looks at the rules of its own bucket. Inside a bucket
// each rule is indexed once, under its most selective part: its destination
// prefixes, its source prefixes, its destination ports or its source ports,
// whichever covers the smallest share of its space. Rules with nothing
// selective (say "pass out all") go on a short list every packet scans. A
// lookup collects the candidates from each index in ascending position,
// checks each candidate completely and keeps the lowest position that
// matches, which is exactly the deciding rule. Its cost follows the number
// of rules that could plausibly match a packet, not the length of the rules
// file.
type compiled struct {
	rs      *rules.RuleSet
	gen     uint64
	def     rules.Action
	rules   []crule            // in evaluation order
	buckets [2][2][256]*bucket // [family][direction][protocol]
}

// crule is one rule ready for checking. Direction, family and protocol are
// already settled by the bucket it sits in.
type crule struct {
	file       int32 // index in the RuleSet's Rules
	action     rules.Action
	log        bool
	vlan       uint16
	icmpTypes  *[4]uint64 // nil: any type
	src, dst   addrMatch
	sport      []rules.PortRange
	dport      []rules.PortRange
	needsPorts bool
}

// addrMatch is a host list compiled per family.
type addrMatch struct {
	hasPlain bool
	plain    [2][]addrTest
	neg      [2][]addrTest
}

// addrTest is one host item: a range, or a table's set.
type addrTest struct {
	first, last u128
	set         *addrSet
}

func (t *addrTest) contains(a u128) bool {
	if t.set != nil {
		return t.set.contains(a)
	}
	return t.first.lessEq(a) && a.lessEq(t.last)
}

func (m *addrMatch) matches(fam int, a u128) bool {
	for i := range m.neg[fam] {
		if m.neg[fam][i].contains(a) {
			return false
		}
	}
	if !m.hasPlain {
		return true
	}
	for i := range m.plain[fam] {
		if m.plain[fam][i].contains(a) {
			return true
		}
	}
	return false
}

// possible reports whether the host list can match any address of the
// family at all (a list of only IPv6 prefixes never matches IPv4).
func (m *addrMatch) possible(fam int) bool {
	return !m.hasPlain || len(m.plain[fam]) > 0
}

// bucket holds the rules of one (family, direction, protocol).
type bucket struct {
	wild         []int32 // rules with nothing selective, ascending
	dst, src     *prefixIndex
	dport, sport *portIndex
}

// query is the part of a packet rules look at, in compiled form.
type query struct {
	fam, dir         int
	proto            uint8
	src, dst         u128
	sport, dport     uint16
	icmpType         uint8
	vlan             uint16
	hasPorts, isICMP bool
}

// maxIndexedCoverage: a rule part covering more than this share of its
// space is not worth an index entry; the rule goes on the wild list.
const maxIndexedCoverage = 1.0 / 16

func compile(rs *rules.RuleSet, gen uint64) *compiled {
	if rs == nil {
		rs = &rules.RuleSet{}
	}
	c := &compiled{rs: rs, gen: gen, def: rs.Default, rules: make([]crule, len(rs.Rules))}
	sets := map[string]*[2]*addrSet{}
	for _, t := range rs.Tables {
		sets[t.Name] = &[2]*addrSet{newAddrSet(t.Entries, 0), newAddrSet(t.Entries, 1)}
	}
	for pos, i := range rs.EvalOrder() {
		c.rules[pos] = compileRule(&rs.Rules[i], sets)
		c.rules[pos].file = int32(i)
	}

	// Rules with an explicit protocol land in that protocol's bucket; rules
	// for any protocol in every bucket. Protocols no rule names share one
	// bucket per (family, direction).
	named := [256]bool{}
	for i := range rs.Rules {
		for _, p := range rs.Rules[i].Protos {
			named[p] = true
		}
	}
	for fam := 0; fam < 2; fam++ {
		for dir := 0; dir < 2; dir++ {
			other := c.buildBucket(fam, dir, -1)
			for p := 0; p < 256; p++ {
				if named[p] {
					c.buckets[fam][dir][p] = c.buildBucket(fam, dir, p)
				} else {
					c.buckets[fam][dir][p] = other
				}
			}
		}
	}
	return c
}

func compileRule(r *rules.Rule, sets map[string]*[2]*addrSet) crule {
	cr := crule{action: r.Action, log: r.Log, vlan: r.VLAN, sport: r.From.Ports, dport: r.To.Ports}
	cr.needsPorts = len(r.From.Ports) > 0 || len(r.To.Ports) > 0
	if len(r.ICMPTypes) > 0 {
		cr.icmpTypes = new([4]uint64)
		for _, t := range r.ICMPTypes {
			cr.icmpTypes[t>>6] |= 1 << (t & 63)
		}
	}
	cr.src = compileHosts(r.From.Addrs, sets)
	cr.dst = compileHosts(r.To.Addrs, sets)
	return cr
}

func compileHosts(hosts []rules.Host, sets map[string]*[2]*addrSet) addrMatch {
	var m addrMatch
	for _, h := range hosts {
		if !h.Not {
			m.hasPlain = true
		}
		for fam := 0; fam < 2; fam++ {
			var t addrTest
			if h.Table != "" {
				s := sets[h.Table]
				if s == nil || len(s[fam].first) == 0 {
					continue // an unknown or empty table matches nothing
				}
				t.set = s[fam]
			} else {
				if familyOf(h.Prefix.Addr()) != fam {
					continue
				}
				t.first, t.last = prefixRange(h.Prefix)
			}
			if h.Not {
				m.neg[fam] = append(m.neg[fam], t)
			} else {
				m.plain[fam] = append(m.plain[fam], t)
			}
		}
	}
	return m
}

// buildBucket indexes the rules that can match (fam, dir, proto); proto -1
// is the shared bucket for protocols no rule names.
func (c *compiled) buildBucket(fam, dir, proto int) *bucket {
	b := &bucket{}
	var dsts, srcs []prefixEntry
	var dports, sports []portEntry
	for pos := range c.rules {
		cr := &c.rules[pos]
		r := &c.rs.Rules[cr.file]
		if !ruleInBucket(r, fam, dir, proto) || !cr.src.possible(fam) || !cr.dst.possible(fam) {
			continue
		}
		idx := int32(pos)
		dCov := hostCoverage(r.To.Addrs, c.rs, fam)
		sCov := hostCoverage(r.From.Addrs, c.rs, fam)
		dpCov := portCoverage(r.To.Ports)
		spCov := portCoverage(r.From.Ports)
		best := min(dCov, sCov, dpCov, spCov)
		switch {
		case best > maxIndexedCoverage:
			b.wild = append(b.wild, idx)
		case best == dCov:
			dsts = appendHostEntries(dsts, r.To.Addrs, c.rs, fam, idx)
		case best == sCov:
			srcs = appendHostEntries(srcs, r.From.Addrs, c.rs, fam, idx)
		case best == dpCov:
			for _, p := range r.To.Ports {
				dports = append(dports, portEntry{p.Lo, p.Hi, idx})
			}
		default:
			for _, p := range r.From.Ports {
				sports = append(sports, portEntry{p.Lo, p.Hi, idx})
			}
		}
	}
	b.dst = newPrefixIndex(dsts, fam)
	b.src = newPrefixIndex(srcs, fam)
	b.dport = newPortIndex(dports)
	b.sport = newPortIndex(sports)
	return b
}

func ruleInBucket(r *rules.Rule, fam, dir, proto int) bool {
	if r.Dir == rules.DirIn && dir != 0 || r.Dir == rules.DirOut && dir != 1 {
		return false
	}
	if r.Family == rules.Inet && fam != 0 || r.Family == rules.Inet6 && fam != 1 {
		return false
	}
	if len(r.Protos) == 0 {
		return true
	}
	for _, p := range r.Protos {
		if int(p) == proto {
			return true
		}
	}
	return false
}

// hostCoverage estimates the share of the family's addresses the plain
// items of a host list cover; lists without plain items cover everything.
func hostCoverage(hosts []rules.Host, rs *rules.RuleSet, fam int) float64 {
	sum, plain := 0.0, false
	for _, h := range hosts {
		if h.Not {
			continue
		}
		plain = true
		forEachPrefix(h, rs, fam, func(p netip.Prefix) { sum += coverage(p) })
	}
	if !plain {
		return math.Inf(1)
	}
	return sum
}

func appendHostEntries(dst []prefixEntry, hosts []rules.Host, rs *rules.RuleSet, fam int, idx int32) []prefixEntry {
	for _, h := range hosts {
		if h.Not {
			continue
		}
		forEachPrefix(h, rs, fam, func(p netip.Prefix) { dst = append(dst, prefixEntry{p, idx}) })
	}
	return dst
}

func forEachPrefix(h rules.Host, rs *rules.RuleSet, fam int, fn func(netip.Prefix)) {
	if h.Table == "" {
		if familyOf(h.Prefix.Addr()) == fam {
			fn(h.Prefix)
		}
		return
	}
	if t := rs.Table(h.Table); t != nil {
		for _, p := range t.Entries {
			if familyOf(p.Addr()) == fam {
				fn(p)
			}
		}
	}
}

func portCoverage(ports []rules.PortRange) float64 {
	if len(ports) == 0 {
		return math.Inf(1)
	}
	n := 0
	for _, p := range ports {
		n += int(p.Hi) - int(p.Lo) + 1
	}
	return float64(n) / 65536
}

// match returns the deciding rule for q (the first in evaluation order that
// matches), or nil when none does.
func (c *compiled) match(q *query) *crule {
	b := c.buckets[q.fam][q.dir][q.proto]
	best := int32(math.MaxInt32)
	best = c.scan(b.wild, best, q)
	if b.dst != nil {
		for n := b.dst.innermost(q.dst); n >= 0; n = b.dst.nodes[n].parent {
			best = c.scan(b.dst.nodes[n].rules, best, q)
		}
	}
	if b.src != nil {
		for n := b.src.innermost(q.src); n >= 0; n = b.src.nodes[n].parent {
			best = c.scan(b.src.nodes[n].rules, best, q)
		}
	}
	if q.hasPorts {
		if b.dport != nil {
			best = c.scan(b.dport.lookup(q.dport), best, q)
		}
		if b.sport != nil {
			best = c.scan(b.sport.lookup(q.sport), best, q)
		}
	}
	if best == math.MaxInt32 {
		return nil
	}
	return &c.rules[best]
}

// scan returns the first position of an ascending candidate list whose rule
// matches q, if it comes before best; otherwise best.
func (c *compiled) scan(list []int32, best int32, q *query) int32 {
	for _, i := range list {
		if i >= best {
			return best
		}
		if c.rules[i].matches(q) {
			return i
		}
	}
	return best
}

func (r *crule) matches(q *query) bool {
	if r.vlan != 0 && r.vlan != q.vlan {
		return false
	}
	if r.icmpTypes != nil && (!q.isICMP || r.icmpTypes[q.icmpType>>6]&(1<<(q.icmpType&63)) == 0) {
		return false
	}
	if r.needsPorts {
		if !q.hasPorts || !inPorts(r.sport, q.sport) || !inPorts(r.dport, q.dport) {
			return false
		}
	}
	return r.src.matches(q.fam, q.src) && r.dst.matches(q.fam, q.dst)
}

func inPorts(list []rules.PortRange, port uint16) bool {
	if len(list) == 0 {
		return true
	}
	for _, r := range list {
		if r.Lo <= port && port <= r.Hi {
			return true
		}
	}
	return false
}

// decide returns the action for q, the file index of the deciding rule (-1:
// the default policy) and whether that rule says log.
func (c *compiled) decide(q *query) (act rules.Action, rule int32, log bool) {
	if r := c.match(q); r != nil {
		return r.action, r.file, r.log
	}
	return c.def, -1, false
}
