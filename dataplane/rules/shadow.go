package rules

import "slices"

// Shadow reports a rule that can never decide anything because a rule
// checked before it matches every packet it could match (the usual symptom
// of a pf file written for last-match semantics: "block all" on top).
type Shadow struct {
	Rule int // index in Rules of the rule that never decides
	By   int // index in Rules of the rule, checked earlier, that takes all its packets
}

// Shadowed finds rules hidden behind a rule checked earlier (in EvalOrder:
// a quick rule can hide a rule written above it) that has no host, port,
// ICMP type or VLAN condition and covers the later rule's direction, family
// and protocols. It does not attempt the general problem (a rule hidden by
// several narrower ones); it catches the mistakes that matter. The result
// is sorted by Rule.
func (rs *RuleSet) Shadowed() []Shadow {
	var out []Shadow
	order := rs.EvalOrder()
	for k, i := range order {
		for _, j := range order[:k] {
			if rs.Rules[j].covers(&rs.Rules[i]) {
				out = append(out, Shadow{Rule: i, By: j})
				break
			}
		}
	}
	slices.SortFunc(out, func(a, b Shadow) int { return a.Rule - b.Rule })
	return out
}

// covers reports whether r matches every packet o can match, judged by
// r's unconditional parts only.
func (r *Rule) covers(o *Rule) bool {
	if len(r.From.Addrs) > 0 || len(r.From.Ports) > 0 || len(r.To.Addrs) > 0 || len(r.To.Ports) > 0 ||
		len(r.ICMPTypes) > 0 || r.VLAN != 0 {
		return false
	}
	if r.Dir != DirAny && r.Dir != o.Dir || r.Family != FamilyAny && r.Family != o.Family {
		return false
	}
	if len(r.Protos) == 0 {
		return true
	}
	if len(o.Protos) == 0 {
		return false
	}
	for _, p := range o.Protos {
		if !containsByte(r.Protos, p) {
			return false
		}
	}
	return true
}
