package rules

import "net/netip"

// Packet is what a rule looks at. Dir is DirIn or DirOut; VLAN is the
// innermost VLAN ID or 0 when untagged; ports are zero for protocols without
// them, ICMPType is meaningful for icmp and ipv6-icmp only.
type Packet struct {
	Dir              Dir
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16
	ICMPType         uint8
	VLAN             uint16
}

// Match returns the index in rs.Rules of the rule that decides the packet,
// or -1 when none matches (the default policy then decides). It reads the
// rules exactly as the package comment states the semantics: first the
// quick rules top to bottom, then the others top to bottom, stopping at the
// first that matches. Package filter compiles the same rules into indexes
// for speed and is tested against this.
func (rs *RuleSet) Match(pk *Packet) int {
	for _, quick := range [2]bool{true, false} {
		for i := range rs.Rules {
			if rs.Rules[i].Quick == quick && rs.Rules[i].Matches(pk, rs.Table) {
				return i
			}
		}
	}
	return -1
}

// Decide returns the action for a packet: the deciding rule's (see Match),
// else the default policy.
func (rs *RuleSet) Decide(pk *Packet) Action {
	if i := rs.Match(pk); i >= 0 {
		return rs.Rules[i].Action
	}
	return rs.Default
}

// Matches reports whether the rule matches the packet; table resolves table
// references.
func (r *Rule) Matches(pk *Packet, table func(string) *Table) bool {
	if r.Dir != DirAny && r.Dir != pk.Dir {
		return false
	}
	switch r.Family {
	case Inet:
		if !pk.Src.Is4() {
			return false
		}
	case Inet6:
		if !pk.Src.Is6() {
			return false
		}
	}
	if len(r.Protos) > 0 && !containsByte(r.Protos, pk.Proto) {
		return false
	}
	if len(r.ICMPTypes) > 0 && !containsByte(r.ICMPTypes, pk.ICMPType) {
		return false
	}
	if r.VLAN != 0 && r.VLAN != pk.VLAN {
		return false
	}
	return r.From.MatchesAddr(pk.Src, table) && r.From.MatchesPort(pk.SrcPort) &&
		r.To.MatchesAddr(pk.Dst, table) && r.To.MatchesPort(pk.DstPort)
}

func containsByte(list []uint8, v uint8) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
