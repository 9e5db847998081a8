package filter

import (
	"net/netip"
	"slices"
)

// addrSet is a set of addresses of one family as sorted, disjoint ranges,
// answering membership with one binary search. Tables compile to these.
type addrSet struct {
	first, last []u128
}

func newAddrSet(prefixes []netip.Prefix, fam int) *addrSet {
	type rng struct{ a, b u128 }
	var rs []rng
	for _, p := range prefixes {
		if familyOf(p.Addr()) != fam {
			continue
		}
		a, b := prefixRange(p)
		rs = append(rs, rng{a, b})
	}
	slices.SortFunc(rs, func(x, y rng) int {
		if x.a.less(y.a) {
			return -1
		}
		if y.a.less(x.a) {
			return 1
		}
		return 0
	})
	s := &addrSet{}
	for _, r := range rs {
		n := len(s.first)
		// Prefixes are nested or disjoint, so a range either lies inside the
		// previous one or starts after it.
		if n > 0 && r.a.lessEq(s.last[n-1]) {
			if s.last[n-1].less(r.b) {
				s.last[n-1] = r.b
			}
			continue
		}
		s.first = append(s.first, r.a)
		s.last = append(s.last, r.b)
	}
	return s
}

func (s *addrSet) contains(a u128) bool {
	lo, hi := 0, len(s.first)
	if hi == 0 || a.less(s.first[0]) {
		return false
	}
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if a.less(s.first[m]) {
			hi = m
		} else {
			lo = m
		}
	}
	return a.lessEq(s.last[lo])
}

// prefixIndex maps an address to the rules indexed under the prefixes that
// contain it. The address space is cut into elementary intervals at every
// prefix boundary; each interval points at its innermost prefix node, and
// each node at the next enclosing one. Prefixes nest or are disjoint, so a
// lookup is one binary search plus a walk up at most one node per distinct
// enclosing prefix.
type prefixIndex struct {
	starts []u128  // interval i is [starts[i], starts[i+1])
	node   []int32 // innermost node containing interval i, or -1
	nodes  []prefixNode
	// jump narrows the binary search of large indexes: jump[k] is the
	// first interval starting at or after the address whose top 16 bits
	// are k. Nil for small indexes, where it would not pay for its 256 KiB.
	jump []int32
	fam  int
}

// jumpMinIntervals: below this many intervals a plain binary search is
// already a handful of steps.
const jumpMinIntervals = 256

func top16(a u128, fam int) int {
	if fam == 0 {
		return int(a.lo >> 16)
	}
	return int(a.hi >> 48)
}

type prefixNode struct {
	first, last u128
	rules       []int32 // ascending rule indexes
	parent      int32   // next enclosing node, or -1
}

type prefixEntry struct {
	prefix netip.Prefix
	rule   int32
}

func newPrefixIndex(entries []prefixEntry, fam int) *prefixIndex {
	if len(entries) == 0 {
		return nil
	}
	byRange := map[[2]u128]int{}
	var nodes []prefixNode
	for _, e := range entries {
		a, b := prefixRange(e.prefix)
		k := [2]u128{a, b}
		i, ok := byRange[k]
		if !ok {
			i = len(nodes)
			byRange[k] = i
			nodes = append(nodes, prefixNode{first: a, last: b})
		}
		nodes[i].rules = append(nodes[i].rules, e.rule)
	}
	// Outer prefixes before the ones they contain.
	slices.SortFunc(nodes, func(x, y prefixNode) int {
		switch {
		case x.first.less(y.first):
			return -1
		case y.first.less(x.first):
			return 1
		case y.last.less(x.last):
			return -1
		case x.last.less(y.last):
			return 1
		}
		return 0
	})
	for i := range nodes {
		slices.Sort(nodes[i].rules)
		nodes[i].rules = slices.Compact(nodes[i].rules)
	}

	// Interval boundaries: every prefix start and the address after every end.
	top := maxAddr(fam)
	bounds := []u128{{}}
	for _, n := range nodes {
		bounds = append(bounds, n.first)
		if n.last != top {
			bounds = append(bounds, n.last.inc())
		}
	}
	slices.SortFunc(bounds, func(x, y u128) int {
		if x.less(y) {
			return -1
		}
		if y.less(x) {
			return 1
		}
		return 0
	})
	bounds = slices.Compact(bounds)

	idx := &prefixIndex{starts: bounds, node: make([]int32, len(bounds)), nodes: nodes, fam: fam}
	var stack []int32
	next := 0
	for i, b := range bounds {
		for next < len(nodes) && nodes[next].first == b {
			for len(stack) > 0 && nodes[stack[len(stack)-1]].last.less(b) {
				stack = stack[:len(stack)-1]
			}
			nodes[next].parent = -1
			if len(stack) > 0 {
				nodes[next].parent = stack[len(stack)-1]
			}
			stack = append(stack, int32(next))
			next++
		}
		for len(stack) > 0 && nodes[stack[len(stack)-1]].last.less(b) {
			stack = stack[:len(stack)-1]
		}
		idx.node[i] = -1
		if len(stack) > 0 {
			idx.node[i] = stack[len(stack)-1]
		}
	}
	if len(bounds) >= jumpMinIntervals {
		idx.jump = make([]int32, 1<<16+1)
		i := 0
		for k := 0; k <= 1<<16; k++ {
			for i < len(bounds) && top16(bounds[i], fam) < k {
				i++
			}
			idx.jump[k] = int32(i)
		}
	}
	return idx
}

// innermost returns the innermost node containing a, or -1.
func (x *prefixIndex) innermost(a u128) int32 {
	if x.jump == nil {
		return x.node[searchLE(x.starts, a)]
	}
	k := top16(a, x.fam)
	// The answer lies between the last interval starting before this
	// 16-bit block and the last one starting inside it.
	lo := max(int(x.jump[k])-1, 0)
	hi := int(x.jump[k+1])
	return x.node[lo+searchLE(x.starts[lo:hi], a)]
}

// portIndex maps a port to the rules indexed under port ranges containing
// it. Ranges may overlap, so each elementary interval keeps the merged,
// ascending list of its rules.
type portIndex struct {
	starts []uint16
	rules  [][]int32
}

type portEntry struct {
	lo, hi uint16
	rule   int32
}

func newPortIndex(entries []portEntry) *portIndex {
	if len(entries) == 0 {
		return nil
	}
	bounds := []uint16{0}
	for _, e := range entries {
		bounds = append(bounds, e.lo)
		if e.hi != 65535 {
			bounds = append(bounds, e.hi+1)
		}
	}
	slices.Sort(bounds)
	bounds = slices.Compact(bounds)
	x := &portIndex{starts: bounds, rules: make([][]int32, len(bounds))}
	for _, e := range entries {
		i, _ := slices.BinarySearch(bounds, e.lo)
		for ; i < len(bounds) && bounds[i] <= e.hi; i++ {
			x.rules[i] = append(x.rules[i], e.rule)
		}
	}
	for i := range x.rules {
		slices.Sort(x.rules[i])
		x.rules[i] = slices.Compact(x.rules[i])
	}
	return x
}

func (x *portIndex) lookup(port uint16) []int32 {
	lo, hi := 0, len(x.starts)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if port < x.starts[m] {
			hi = m
		} else {
			lo = m
		}
	}
	return x.rules[lo]
}
