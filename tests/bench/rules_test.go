package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rackwall/rackwall/dataplane/rules"
)

// The committed 1,000-rule file is what the generator writes, and the rules
// language accepts every line of it.
func TestCommittedRulesFile(t *testing.T) {
	path := filepath.Join("..", "testdata", "rules-1000.rules")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != generateRules(1000) {
		t.Fatalf("%s differs from the generator's output: go run ./tests/bench -gen-rules 1000 > tests/testdata/rules-1000.rules", path)
	}
	rs, err := rules.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1000 {
		t.Fatalf("%d rules parsed, want 1000", len(rs.Rules))
	}
}

func TestGenerateRulesCount(t *testing.T) {
	for _, n := range []int{2, 10, 999, 1000, 5000} {
		rs, err := rules.Parse(generateRules(n))
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if len(rs.Rules) != n {
			t.Errorf("n=%d: %d rules", n, len(rs.Rules))
		}
	}
}
