package depcheck

import (
	"fmt"
	"slices"
	"strings"
)

// Rule holds one program (Root) to the packages it may link.
type Rule struct {
	Root string
	// Why is shown with every violation: what the rule protects.
	Why string
	// Internal, when not nil, is the complete set of rackwall packages
	// (import paths inside Module) Root may depend on, Root included.
	// Anything else is a violation, so a new dependency is a deliberate
	// edit of this list.
	Internal []string
	// Deny names packages Root must not depend on; an entry also covers
	// the packages below it ("a/b" denies "a/b/c", not "a/bc").
	Deny []string
	// DenyOnly names packages Root must not depend on while the packages
	// below them stay allowed (the image builder "image", not its
	// "image/bundle").
	DenyOnly []string
	// Contained keeps packages away from every package in Root's graph
	// except a few edges: each entry's Packages may be reached only through
	// its Edges.
	Contained []Containment
}

// Containment says that Packages (and the packages below them) may appear
// in a program's graph only through Edges: no rackwall package outside
// Edges may depend on them, directly or indirectly.
type Containment struct {
	Packages []string
	Edges    []string
}

// under reports whether pkg is one of paths or below one of them.
func under(pkg string, paths []string) bool {
	for _, p := range paths {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

func internal(pkg string) bool { return under(pkg, []string{Module}) }

// Violations lists every way g breaks r, each with the import chain that
// causes it; nil means r holds.
func (r Rule) Violations(g *Graph) []string {
	if _, listed := g.imports[r.Root]; !listed {
		return []string{fmt.Sprintf("%s is not in the import graph", r.Root)}
	}
	deps := g.Deps(r.Root)
	var out []string
	report := func(what, target string) {
		out = append(out, fmt.Sprintf("%s %s (%s):\n\t%s", r.Root, what, r.Why, FormatChain(g.Chain(r.Root, target))))
	}
	// A denied entry is reported once, by the package below it that is
	// closest to Root: that chain is the one to cut.
	for _, d := range r.Deny {
		var nearest []string
		for _, p := range deps {
			if under(p, []string{d}) {
				if c := g.Chain(r.Root, p); nearest == nil || len(c) < len(nearest) {
					nearest = c
				}
			}
		}
		if nearest != nil {
			report("must not depend on "+d, nearest[len(nearest)-1])
		}
	}
	for _, p := range deps {
		switch {
		case slices.Contains(r.DenyOnly, p):
			report("must not depend on "+p, p)
		case r.Internal != nil && internal(p) && !slices.Contains(r.Internal, p) && !under(p, r.Deny):
			report("depends on "+p+", which is not on its list of allowed rackwall packages", p)
		}
	}
	for _, c := range r.Contained {
		for _, p := range deps {
			if !internal(p) || slices.Contains(c.Edges, p) {
				continue
			}
			for _, q := range g.Deps(p) {
				if under(q, c.Packages) {
					out = append(out, fmt.Sprintf("%s: %s reaches %s, allowed only through %s (%s):\n\t%s",
						r.Root, p, q, strings.Join(c.Edges, ", "), r.Why, FormatChain(g.Chain(p, q))))
					break
				}
			}
		}
	}
	return out
}
