package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
)

// testEpoch is the SOURCE_DATE_EPOCH of every test image.
const testEpoch = 1700000000

// imagePrograms returns the board's default programs whose main packages
// exist in this checkout, logging the ones that do not.
func imagePrograms(t testing.TB, b boards.Board) []image.Program {
	t.Helper()
	root, err := image.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	var progs []image.Program
	for _, p := range image.DefaultPrograms(b) {
		cmd := exec.Command("go", "list", "-f", "{{.Name}}", p.Package)
		cmd.Dir = root
		out, err := cmd.Output()
		if err != nil || strings.TrimSpace(string(out)) != "main" {
			t.Logf("NOT IN IMAGE: %s (%s is not a main package in this checkout)", p.Path(), p.Package)
			continue
		}
		// Packages others are still writing may not compile yet; the image
		// tests check the builder, so they leave such a program out, loudly.
		build := exec.Command("go", "build", "-o", os.DevNull, "-tags", "gokrazy,netgo,osusergo", p.Package)
		build.Dir = root
		build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+b.GOARCH)
		if out, err := build.CombinedOutput(); err != nil {
			first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
			t.Logf("NOT IN IMAGE: %s (%s does not build: %s)", p.Path(), p.Package, first)
			continue
		}
		progs = append(progs, p)
	}
	return progs
}

var (
	builtMu sync.Mutex
	built   = map[string]string{} // board name -> image path, shared by the tests of one run
)

// testImage builds (once per test binary run) the image of board into
// $TMPDIR/rackwall-test-images/<board>.img, shared by the tests of one run
// and replaced by the next run instead of piling up.
func testImage(t testing.TB, board string) string {
	t.Helper()
	builtMu.Lock()
	defer builtMu.Unlock()
	if p, ok := built[board]; ok {
		return p
	}
	dir := filepath.Join(os.TempDir(), "rackwall-test-images")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, board+".img")
	buildImage(t, board, p, nil)
	built[board] = p
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
func readPart(t testing.TB, path string, p image.Partition) []byte {
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
func fatList(t *testing.T, img string, p image.Partition, dir string) []string {
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
