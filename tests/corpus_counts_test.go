package tests

import (
	"strings"
	"testing"
)

// The drop-count check is the corpus test's judge, so it gets its own
// table: counts that fit the expectations pass, counts that do not fail.
func TestCheckDropCounts(t *testing.T) {
	entry := func(groups ...[]any) corpusEntry {
		var e corpusEntry
		for _, g := range groups {
			d := struct {
				Frames []int    `json:"frames"`
				Rule   string   `json:"rule"`
				Reason string   `json:"reason"`
				Also   []string `json:"also"`
			}{Rule: g[1].(string)}
			for i := 0; i < g[0].(int); i++ {
				d.Frames = append(d.Frames, len(e.Drop)*100+i+1)
			}
			if len(g) > 2 {
				d.Also = g[2].([]string)
			}
			e.Drop = append(e.Drop, d)
		}
		return e
	}
	cases := []struct {
		name    string
		e       corpusEntry
		delta   map[string]float64
		wantErr string
	}{
		{"exact rule", entry([]any{4, "F6", []string{"F4"}}), map[string]float64{"frag_too_small": 4}, ""},
		{"also rule", entry([]any{4, "F6", []string{"F4"}}), map[string]float64{"frag_overlap": 4}, ""},
		{"split between rule and also", entry([]any{4, "F6", []string{"F4"}}), map[string]float64{"frag_overlap": 1, "frag_too_small": 3}, ""},
		{"late fragments under F8", entry([]any{4, "F6"}), map[string]float64{"frag_too_small": 2, "frag_timeout": 2}, ""},
		{"F8 not for header rules", entry([]any{3, "H2"}), map[string]float64{"frag_timeout": 3}, "cannot be"},
		{"too few", entry([]any{4, "F6"}), map[string]float64{"frag_too_small": 3}, "3 drops counted"},
		{"too many", entry([]any{1, "H4"}), map[string]float64{"ipv6_frag_header_repeated": 2}, "2 drops counted"},
		{"wrong reason", entry([]any{1, "H4"}), map[string]float64{"martian_source": 1}, "cannot be"},
		{"nothing expected, nothing counted", entry(), map[string]float64{}, ""},
		{"nothing expected, something counted", entry(), map[string]float64{"martian_source": 1}, "1 drops counted"},
		{"two groups, reasons crossing", entry([]any{2, "F6", []string{"F8"}}, []any{1, "T2", []string{"F5"}}),
			map[string]float64{"frag_timeout": 2, "frag_first_incomplete": 1}, ""},
		{"two groups, one reason too often", entry([]any{2, "F6", []string{"F8"}}, []any{1, "T2"}),
			map[string]float64{"icmp_too_short": 2, "frag_too_small": 1}, "cannot be"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := checkDropCounts(c.e, c.delta)
			switch {
			case c.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Errorf("accepted %v", c.delta)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Errorf("error %q, want it to mention %q", err, c.wantErr)
			}
		})
	}
}
