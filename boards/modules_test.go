package boards

import (
	"go/parser"
	"go/token"
	"slices"
	"strconv"
	"testing"
)

// Every kernel and firmware module a board names must be imported by
// modules.go, or `go mod tidy` removes it from go.mod and building that
// board's image fails with "go list -m: not a known dependency".
func TestModulesFileKeepsEveryBoardModule(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "modules.go", nil, parser.ImportsOnly)
	if err != nil {
		t.Fatal(err)
	}
	var imported []string
	for _, spec := range f.Imports {
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			t.Fatal(err)
		}
		imported = append(imported, path)
	}
	for _, name := range Names() {
		b, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range []string{b.KernelModule, b.FirmwareModule} {
			if m != "" && !slices.Contains(imported, m) {
				t.Errorf("board %s needs module %s, which modules.go does not import", name, m)
			}
		}
	}
}
