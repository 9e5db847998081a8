package rules

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the .golden files from the current output")

// TestGoldenValid parses every testdata/valid/*.rules file, compares the
// canonical text with its .golden file, and checks the canonical text
// round-trips to an equal RuleSet.
func TestGoldenValid(t *testing.T) {
	files, err := filepath.Glob("testdata/valid/*.rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("no valid test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Parse(string(src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := rs.String()
			checkGolden(t, strings.TrimSuffix(file, ".rules")+".golden", got)
			again, err := Parse(got)
			if err != nil {
				t.Fatalf("canonical text does not parse: %v\n%s", err, got)
			}
			if !again.Equal(rs) {
				t.Fatalf("round trip changed the rule set:\n%s\nvs\n%s", got, again)
			}
		})
	}
}

// TestGoldenInvalid checks every testdata/invalid/*.rules file fails with
// exactly the error text in its .golden file.
func TestGoldenInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.rules")
	if err != nil || len(files) == 0 {
		t.Fatalf("no invalid test files: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := Parse(string(src))
			if err == nil {
				t.Fatalf("parsed without error:\n%s", rs)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error is %T, want *SyntaxError", err)
			}
			checkGolden(t, strings.TrimSuffix(file, ".rules")+".golden", err.Error()+"\n")
		})
	}
}

func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
