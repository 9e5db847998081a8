package main

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The profile is written however the dataplane ends: here it cannot open
// its ports and exits 1, and the file must still be a complete profile
// (pprof's gzip-compressed protobuf).
func TestCPUProfileIsWrittenOnExit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	code, stderr := runCommand(t, "--uplink", "nope0", "--rack", "nope1", "--cpuprofile", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (ports missing); stderr:\n%s", code, stderr)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("no profile written: %v\nstderr:\n%s", err, stderr)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("profile is not gzip-compressed: %v", err)
	}
	body, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("profile is cut short: %v", err)
	}
	if len(body) == 0 {
		t.Fatal("profile is empty")
	}
}

func TestCPUProfileToAnUnwritablePathIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no-such-dir", "cpu.pprof")
	code, stderr := runCommand(t, "--uplink", "nope0", "--rack", "nope1", "--cpuprofile", path)
	if code != 2 || !strings.Contains(stderr, "cannot profile") {
		t.Fatalf("exit %d, want 2 with \"cannot profile\"; stderr:\n%s", code, stderr)
	}
}
