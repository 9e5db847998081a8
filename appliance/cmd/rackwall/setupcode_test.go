package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/appliance/store"
)

// A box without a password makes its setup code at start and prints it
// with the certificate fingerprint; one with a password prints nothing.
func TestSetupCodeAnnounced(t *testing.T) {
	dir := t.TempDir()
	st, _, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	a := &box{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	a.announceSetupCode("AB:CD")
	data, err := os.ReadFile(filepath.Join(dir, "setup-code"))
	if err != nil {
		t.Fatalf("no setup code made: %v", err)
	}
	code := strings.TrimSpace(string(data))
	if !st.CheckSetupCode(code) {
		t.Fatalf("the stored code %q is not the one the store accepts", code)
	}
	banner := setupBanner(code, "AB:CD")
	if !strings.Contains(banner, "first-run setup code  "+code) || !strings.Contains(banner, "certificate SHA-256   AB:CD") {
		t.Fatalf("banner %q", banner)
	}
}
