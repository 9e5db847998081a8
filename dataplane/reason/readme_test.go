package reason

import (
	"os"
	"strings"
	"testing"
)

// The README documents the closed list of drop reasons; this keeps the two
// from drifting apart.
func TestREADMEListsEveryReason(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Skipf("README not found: %v", err)
	}
	readme := string(b)
	for _, r := range All() {
		row := "| `" + r.String() + "` | " + r.Rule() + " |"
		if !strings.Contains(readme, row) {
			t.Errorf("README has no row starting %q", row)
		}
	}
}

func TestNamesAreUniqueAndParse(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range All() {
		if seen[r.String()] {
			t.Errorf("reason name %q used twice", r)
		}
		seen[r.String()] = true
		if r.Rule() == "" || r.Description() == "" {
			t.Errorf("reason %q has no rule or description", r)
		}
		if got, ok := Parse(r.String()); !ok || got != r {
			t.Errorf("Parse(%q) = %v, %v", r, got, ok)
		}
	}
	if Reason(200).String() != "unknown" {
		t.Error("out-of-range reason not reported as unknown")
	}
}
