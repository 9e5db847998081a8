package rules

import "strconv"

// ICMP and ICMPv6 message type names, as pf spells them.
var icmp4Names = []struct {
	name string
	typ  uint8
}{
	{"echorep", 0}, {"unreach", 3}, {"squench", 4}, {"redir", 5}, {"echoreq", 8},
	{"routeradv", 9}, {"routersol", 10}, {"timex", 11}, {"paramprob", 12},
	{"timereq", 13}, {"timerep", 14},
}

var icmp6Names = []struct {
	name string
	typ  uint8
}{
	{"unreach", 1}, {"toobig", 2}, {"timex", 3}, {"paramprob", 4},
	{"echoreq", 128}, {"echorep", 129}, {"groupqry", 130}, {"grouprep", 131},
	{"groupterm", 132}, {"routersol", 133}, {"routeradv", 134},
	{"neighbrsol", 135}, {"neighbradv", 136}, {"redir", 137},
}

func icmpTypeByName(name string, v6 bool) (uint8, bool) {
	list := icmp4Names
	if v6 {
		list = icmp6Names
	}
	for _, e := range list {
		if e.name == name {
			return e.typ, true
		}
	}
	return 0, false
}

func icmpTypeName(typ uint8, v6 bool) string {
	list := icmp4Names
	if v6 {
		list = icmp6Names
	}
	for _, e := range list {
		if e.typ == typ {
			return e.name
		}
	}
	return strconv.Itoa(int(typ))
}

func protoName(v uint8) string {
	switch v {
	case ProtoICMP:
		return "icmp"
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	case ProtoICMPv6:
		return "ipv6-icmp"
	case 47:
		return "gre"
	case 50:
		return "esp"
	case 51:
		return "ah"
	case 132:
		return "sctp"
	}
	return strconv.Itoa(int(v))
}
