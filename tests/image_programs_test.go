package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
)

// The image tests must fail when a program of the image is missing or does
// not build, not build an image without it: checkProgramBuilds is what
// imagePrograms fails on.
func TestImageProgramCheckRefusesWhatCannotShip(t *testing.T) {
	b, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":         "module example.com/shipcheck\n\ngo 1.22\n",
		"good/main.go":   "package main\n\nfunc main() {}\n",
		"broken/main.go": "package main\n\nfunc main() { undefinedCall() }\n",
		"lib/lib.go":     "package lib\n",
	}
	for name, text := range files {
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for pkg, want := range map[string]string{
		"./broken":  "does not build",
		"./lib":     "not a main package",
		"./missing": "go list",
	} {
		err := checkProgramBuilds(mod, b, image.Program{Name: "x", Package: pkg})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want an error saying %q", pkg, err, want)
		}
	}
	if err := checkProgramBuilds(mod, b, image.Program{Name: "x", Package: "./good"}); err != nil {
		t.Errorf("./good: %v", err)
	}
	root, err := image.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	// The shipped board's own programs all build in this checkout.
	for _, p := range image.DefaultPrograms(b) {
		if err := checkProgramBuilds(root, b, p); err != nil {
			t.Errorf("%s: %v", p.Path(), err)
		}
	}
}
