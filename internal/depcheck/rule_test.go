package depcheck

import (
	"slices"
	"strings"
	"testing"
)

// A small graph shaped like the real one: a command, an engine, an HTTP
// edge and a UI.
func testGraph() *Graph {
	return New(map[string][]string{
		Module + "/cmd":        {Module + "/engine", Module + "/control", "fmt"},
		Module + "/engine":     {Module + "/packet", "fmt"},
		Module + "/packet":     {"fmt"},
		Module + "/control":    {"net/http", Module + "/packet"},
		Module + "/ui":         {"net/http", "github.com/a-h/templ"},
		"net/http":             {"fmt"},
		"github.com/a-h/templ": {"fmt"},
		"fmt":                  nil,
	})
}

func TestChainIsShortestAndStable(t *testing.T) {
	g := testGraph()
	got := g.Chain(Module+"/cmd", "fmt")
	want := []string{Module + "/cmd", "fmt"}
	if !slices.Equal(got, want) {
		t.Fatalf("chain %v, want %v", got, want)
	}
	got = g.Chain(Module+"/cmd", Module+"/packet")
	want = []string{Module + "/cmd", Module + "/control", Module + "/packet"}
	if !slices.Equal(got, want) {
		t.Fatalf("chain %v, want %v (the sorted first of two equal chains)", got, want)
	}
	if c := g.Chain(Module+"/engine", "net/http"); c != nil {
		t.Fatalf("engine does not import net/http, got chain %v", c)
	}
}

func TestParseReadsGoListStream(t *testing.T) {
	g, err := parse(strings.NewReader(`{"ImportPath":"a","Imports":["b"]}{"ImportPath":"b"}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := g.Deps("a"); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("deps %v", got)
	}
	if _, err := parse(strings.NewReader(`{"ImportPath":"a","Error":{"Err":"no Go files"}}`)); err == nil || !strings.Contains(err.Error(), "no Go files") {
		t.Fatalf("package error not reported: %v", err)
	}
}

func TestRuleReportsEachKindWithItsChain(t *testing.T) {
	g := testGraph()
	clean := Rule{Root: Module + "/cmd", Why: "test",
		Internal:  []string{Module + "/cmd", Module + "/engine", Module + "/packet", Module + "/control"},
		Deny:      []string{Module + "/ui", "github.com/a-h/templ"},
		Contained: []Containment{{Packages: []string{"net/http"}, Edges: []string{Module + "/cmd", Module + "/control"}}},
	}
	if v := clean.Violations(g); v != nil {
		t.Fatalf("clean graph reported %v", v)
	}

	cases := map[string]struct {
		rule Rule
		want string
	}{
		"not allowed": {
			Rule{Root: Module + "/cmd", Why: "test", Internal: []string{Module + "/cmd", Module + "/engine", Module + "/control"}},
			"depends on " + Module + "/packet, which is not on its list of allowed rackwall packages (test):\n\t" +
				Module + "/cmd\n\t→ " + Module + "/control\n\t→ " + Module + "/packet",
		},
		"denied below": {
			Rule{Root: Module + "/cmd", Why: "test", Deny: []string{Module}},
			"must not depend on " + Module,
		},
		"denied only": {
			Rule{Root: Module + "/cmd", Why: "test", DenyOnly: []string{Module + "/engine"}},
			"must not depend on " + Module + "/engine (test):\n\t" + Module + "/cmd\n\t→ " + Module + "/engine",
		},
		"escaped containment": {
			Rule{Root: Module + "/cmd", Why: "test", Contained: []Containment{{Packages: []string{"net/http"}, Edges: []string{Module + "/cmd"}}}},
			Module + "/control reaches net/http, allowed only through " + Module + "/cmd (test):\n\t" + Module + "/control\n\t→ net/http",
		},
		"root missing": {
			Rule{Root: Module + "/nothing", Why: "test"},
			Module + "/nothing is not in the import graph",
		},
	}
	for name, c := range cases {
		v := c.rule.Violations(g)
		if len(v) != 1 || !strings.Contains(v[0], c.want) {
			t.Errorf("%s: violations %q, want one containing %q", name, v, c.want)
		}
	}
}
