package reason

import "testing"

// docs/policy_test.go holds the closed list to the table in docs/POLICY.md
// and to any other document that repeats a row of it.

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
