package rules

import (
	"net/netip"
	"strconv"
	"strings"
)

// String writes the rule set in canonical form (see the package comment).
func (rs *RuleSet) String() string {
	var b strings.Builder
	b.WriteString("set default ")
	b.WriteString(rs.Default.String())
	b.WriteByte('\n')
	for i := range rs.Tables {
		rs.Tables[i].write(&b)
		b.WriteByte('\n')
	}
	for i := range rs.Rules {
		rs.Rules[i].write(&b)
		b.WriteByte('\n')
	}
	return b.String()
}

func (t *Table) write(b *strings.Builder) {
	b.WriteString("table <")
	b.WriteString(t.Name)
	b.WriteString("> {")
	for i, e := range t.Entries {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(prefixString(e))
	}
	b.WriteString(" }")
}

// String writes one rule in canonical form.
func (r *Rule) String() string {
	var b strings.Builder
	r.write(&b)
	return b.String()
}

func (r *Rule) write(b *strings.Builder) {
	b.WriteString(r.Action.String())
	switch r.Dir {
	case DirIn:
		b.WriteString(" in")
	case DirOut:
		b.WriteString(" out")
	}
	if r.Log {
		b.WriteString(" log")
	}
	if r.Quick {
		b.WriteString(" quick")
	}
	switch r.Family {
	case Inet:
		b.WriteString(" inet")
	case Inet6:
		b.WriteString(" inet6")
	}
	if len(r.Protos) > 0 {
		b.WriteString(" proto ")
		writeList(b, len(r.Protos), func(i int) string { return protoName(r.Protos[i]) })
	}
	if r.From.isAny() && r.To.isAny() {
		b.WriteString(" all")
	} else {
		b.WriteString(" from ")
		r.From.write(b)
		b.WriteString(" to ")
		r.To.write(b)
	}
	if len(r.ICMPTypes) > 0 {
		v6 := r.Protos[0] == ProtoICMPv6
		if v6 {
			b.WriteString(" icmp6-type ")
		} else {
			b.WriteString(" icmp-type ")
		}
		writeList(b, len(r.ICMPTypes), func(i int) string { return icmpTypeName(r.ICMPTypes[i], v6) })
	}
	if r.VLAN != 0 {
		b.WriteString(" vlan ")
		b.WriteString(strconv.Itoa(int(r.VLAN)))
	}
}

func (e *Endpoint) isAny() bool { return len(e.Addrs) == 0 && len(e.Ports) == 0 }

func (e *Endpoint) write(b *strings.Builder) {
	if len(e.Addrs) == 0 {
		b.WriteString("any")
	} else {
		writeList(b, len(e.Addrs), func(i int) string { return e.Addrs[i].String() })
	}
	if len(e.Ports) > 0 {
		b.WriteString(" port ")
		writeList(b, len(e.Ports), func(i int) string { return e.Ports[i].String() })
	}
}

// String writes a host item: "10.0.0.0/8", "!<web>", "fd77::1".
func (h Host) String() string {
	s := "<" + h.Table + ">"
	if h.Table == "" {
		s = prefixString(h.Prefix)
	}
	if h.Not {
		return "!" + s
	}
	return s
}

// String writes "80" or "1000:2000".
func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return strconv.Itoa(int(r.Lo))
	}
	return strconv.Itoa(int(r.Lo)) + ":" + strconv.Itoa(int(r.Hi))
}

// prefixString writes a full-length prefix as a bare address.
func prefixString(p netip.Prefix) string {
	if p.Bits() == p.Addr().BitLen() {
		return p.Addr().String()
	}
	return p.String()
}

// writeList writes one item bare, several as "{ a, b }".
func writeList(b *strings.Builder, n int, item func(int) string) {
	if n == 1 {
		b.WriteString(item(0))
		return
	}
	b.WriteString("{ ")
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(item(i))
	}
	b.WriteString(" }")
}
