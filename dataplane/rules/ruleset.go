package rules

import (
	"net/netip"
	"reflect"
)

// Action is what a rule (or the default policy) does with a packet.
type Action uint8

const (
	// Pass lets the packet through. It is the zero value so that an empty
	// RuleSet passes everything.
	Pass Action = iota
	// Block drops the packet.
	Block
)

func (a Action) String() string {
	if a == Block {
		return "block"
	}
	return "pass"
}

// Dir limits a rule to one direction across the bridge.
type Dir uint8

const (
	DirAny Dir = iota // both directions
	DirIn             // uplink → rack
	DirOut            // rack → uplink
)

// Family limits a rule to one address family.
type Family uint8

const (
	FamilyAny Family = iota
	Inet             // IPv4
	Inet6            // IPv6
)

// Well-known IP protocol numbers.
const (
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// RuleSet is a parsed rules file. The zero value (no rules, default pass)
// passes everything.
type RuleSet struct {
	Default Action
	Tables  []Table // in order of definition
	Rules   []Rule  // in file order; see EvalOrder for the order they are checked in
}

// Table is a named set of addresses and prefixes.
type Table struct {
	Name    string
	Entries []netip.Prefix // a single address is a full-length prefix
}

// Rule is one pass or block line.
type Rule struct {
	Action Action
	Log    bool
	// Quick moves the rule ahead of every rule without quick in the order
	// rules are checked (see EvalOrder and the package comment).
	Quick  bool
	Dir    Dir
	Family Family
	Protos []uint8 // nil: any protocol
	From   Endpoint
	To     Endpoint
	// ICMPTypes limits an icmp (proto icmp) or icmp6 (proto ipv6-icmp) rule
	// to these message types; nil: any type.
	ICMPTypes []uint8
	VLAN      uint16 // 0: any (or no) VLAN
}

// Endpoint is one side (from or to) of a rule.
type Endpoint struct {
	Addrs []Host      // nil: any address
	Ports []PortRange // nil: any port
}

// Host is one item of a host list: a prefix or a table reference, maybe
// negated.
type Host struct {
	Not    bool
	Table  string       // set for a <table> reference
	Prefix netip.Prefix // set otherwise
}

// PortRange is an inclusive range of ports; a single port has Lo == Hi.
type PortRange struct {
	Lo, Hi uint16
}

// EvalOrder returns the indexes of rs.Rules in the order they are checked:
// the quick rules in file order, then the others in file order. The first
// rule in this order that matches a packet decides it.
func (rs *RuleSet) EvalOrder() []int {
	order := make([]int, 0, len(rs.Rules))
	for _, quick := range [2]bool{true, false} {
		for i := range rs.Rules {
			if rs.Rules[i].Quick == quick {
				order = append(order, i)
			}
		}
	}
	return order
}

// Table returns the table with the given name, or nil.
func (rs *RuleSet) Table(name string) *Table {
	for i := range rs.Tables {
		if rs.Tables[i].Name == name {
			return &rs.Tables[i]
		}
	}
	return nil
}

// Equal reports whether two rule sets say the same thing in the same order.
func (rs *RuleSet) Equal(o *RuleSet) bool {
	return reflect.DeepEqual(rs, o)
}

// MatchesAddr reports whether a host list matches an address: some plain item
// (or none exists) and no negated item. tables resolves <table> references.
func (e *Endpoint) MatchesAddr(a netip.Addr, table func(string) *Table) bool {
	plain, plainHit := false, false
	for _, h := range e.Addrs {
		hit := h.contains(a, table)
		if h.Not {
			if hit {
				return false
			}
			continue
		}
		plain = true
		plainHit = plainHit || hit
	}
	return !plain || plainHit
}

func (h *Host) contains(a netip.Addr, table func(string) *Table) bool {
	if h.Table == "" {
		return h.Prefix.Contains(a)
	}
	t := table(h.Table)
	if t == nil {
		return false
	}
	for _, p := range t.Entries {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// MatchesPort reports whether the port list matches a port (an empty list
// matches every port).
func (e *Endpoint) MatchesPort(port uint16) bool {
	if len(e.Ports) == 0 {
		return true
	}
	for _, r := range e.Ports {
		if r.Lo <= port && port <= r.Hi {
			return true
		}
	}
	return false
}
