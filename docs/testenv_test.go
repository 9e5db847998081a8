package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every RACKWALL_* environment variable the code reads is documented in
// tests/README.md, the one place a reader looks for what changes a test.
func TestEveryEnvironmentVariableIsDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(repoRoot, "tests", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`RACKWALL_[A-Z0-9_]+`)
	found := map[string]string{}
	err = filepath.WalkDir(repoRoot, func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && (e.Name() == ".git" || e.Name() == "testdata" || e.Name() == "out") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, v := range name.FindAllString(string(b), -1) {
			found[v] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) == 0 {
		t.Fatal("found no RACKWALL_ variables at all: the walk is broken")
	}
	for v, path := range found {
		if !strings.Contains(string(doc), "`"+v) {
			t.Errorf("%s (read in %s) is not documented in tests/README.md", v, path)
		}
	}
}
