package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/layout"
)

// testEpoch is the SOURCE_DATE_EPOCH of every test image.
const testEpoch = 1700000000

// imagePrograms returns the board's default programs after checking that
// each is a main package that builds for the board. A program that does not
// fails the test: an image without it is not the product, and every test
// that boots or inspects one would otherwise pass on a box that is missing
// its appliance or dataplane.
func imagePrograms(t testing.TB, b boards.Board) []image.Program {
	t.Helper()
	root, err := image.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	progs := image.DefaultPrograms(b)
	for _, p := range progs {
		if err := checkProgramBuilds(root, b, p); err != nil {
			t.Fatalf("%s cannot go into the image: %v", p.Path(), err)
		}
	}
	return progs
}

// checkProgramBuilds says why p is not a main package that builds for b, or
// returns nil.
func checkProgramBuilds(root string, b boards.Board, p image.Program) error {
	cmd := exec.Command("go", "list", "-f", "{{.Name}}", p.Package)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("go list %s: %v", p.Package, err)
	}
	if name := strings.TrimSpace(string(out)); name != "main" {
		return fmt.Errorf("%s is package %s, not a main package", p.Package, name)
	}
	build := exec.Command("go", "build", "-o", os.DevNull, "-tags", "gokrazy,netgo,osusergo", p.Package)
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+b.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("%s does not build for %s: %v\n%s", p.Package, b.GOARCH, err, out)
	}
	return nil
}

var (
	builtMu sync.Mutex
	built   = map[string]string{} // image name -> path, shared by the tests of one run
	failed  = map[string]bool{}   // images whose build failed in this run
)

// testImage builds (once per test binary run) the image of board that the
// content tests inspect.
func testImage(t testing.TB, board string) string {
	t.Helper()
	return cachedImage(t, board, func(out string) { buildImage(t, board, out, nil) })
}

// cachedImage returns $TMPDIR/rackwall-test-images/<name>.img, built by
// build the first time a test of this run asks for it and shared by the
// tests after; the next run replaces it instead of piling up. A build that
// failed fails every later test that needs the image, without building it
// again.
func cachedImage(t testing.TB, name string, build func(out string)) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[name]; ok {
		return p
	}
	if failed[name] {
		t.Fatalf("image %s: its build failed earlier in this run", name)
	}
	dir := filepath.Join(os.TempDir(), "rackwall-test-images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name+".img")
	failed[name] = true // until build returns
	build(p)
	delete(failed, name)
	built[name] = p
	return p
}

// buildImage builds board's image at out; mutate may adjust the config.
func buildImage(t testing.TB, board, out string, mutate func(*image.Config)) image.Config {
	t.Helper()
	b, err := boards.Lookup(board)
	if err != nil {
		t.Fatal(err)
	}
	cfg := image.Config{
		Board:           b,
		Version:         "test-1",
		SourceDateEpoch: testEpoch,
		Programs:        imagePrograms(t, b),
		UpdateKeys:      map[string][]byte{"release.pub": []byte("untrusted comment: test key\nRWTtest\n")},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	if err := image.Build(cfg, out); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// readPart returns the bytes of partition p of the image at path.
func readPart(t testing.TB, path string, p layout.Partition) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, p.Size())
	if _, err := f.ReadAt(b, p.Offset()); err != nil {
		t.Fatal(err)
	}
	return b
}

func needTool(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		t.Skipf("needs %s: not found on PATH", tool)
	}
	return p
}

// fatList lists every path in the FAT partition p of img with mtools, an
// independent FAT reader.
func fatList(t *testing.T, img string, p layout.Partition, dir string) []string {
	t.Helper()
	mdir := needTool(t, "mdir")
	tmp := filepath.Join(t.TempDir(), "boot.fat")
	if err := os.WriteFile(tmp, readPart(t, img, p), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(mdir, "-b", "-i", tmp, "::"+dir).Output()
	if err != nil {
		t.Fatalf("mdir %s: %v", dir, err)
	}
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" {
			names = append(names, strings.TrimPrefix(l, "::"))
		}
	}
	return names
}
