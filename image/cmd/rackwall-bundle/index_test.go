package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/channel"
)

func writeTestBundle(t *testing.T, dir string, key ed25519.PrivateKey, board string, version int64) string {
	t.Helper()
	p := filepath.Join(dir, board+".bundle")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src := bundle.Source{Name: bundle.PartRoot, Open: func() (io.ReadCloser, error) {
		return io.NopCloser(strings.NewReader("root of " + board)), nil
	}}
	m := bundle.Manifest{Product: bundle.Product, Board: board, Version: version, BuildTime: time.Unix(1, 0).UTC()}
	if err := bundle.Write(f, m, key, []bundle.Source{src}); err != nil {
		t.Fatal(err)
	}
	return p
}

// The index names each bundle by the version, size and hash of the file
// itself, and is signed by --key.
func TestIndexFromBundles(t *testing.T) {
	dir := t.TempDir()
	if err := bundle.GenerateKeys(filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")); err != nil {
		t.Fatal(err)
	}
	key, err := bundle.LoadPrivateKey(filepath.Join(dir, "k.key"))
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := bundle.LoadPublicKeys(filepath.Join(dir, "k.pub"))
	if err != nil {
		t.Fatal(err)
	}
	q := writeTestBundle(t, dir, key, "qemu-amd64", 7)
	out := filepath.Join(dir, "stable.index")
	err = index([]string{"--key", filepath.Join(dir, "k.key"), "--channel", "stable", "--sequence", "12",
		"--board", "qemu-amd64=" + q, "--base-url", "https://updates.example.net/rw/", "--rollout", "qemu-amd64=30", "--out", out})
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := channel.Open(data, pubs)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(q)
	sum := sha256.Sum256(raw)
	e, ok := ix.Entry("qemu-amd64")
	if !ok || e.Version != 7 || e.Size != int64(len(raw)) || e.SHA256 != hex.EncodeToString(sum[:]) || e.Rollout() != 30 ||
		e.URL != "https://updates.example.net/rw/qemu-amd64.bundle" || ix.Sequence != 12 {
		t.Fatalf("entry %+v (rollout %d), sequence %d", e, e.Rollout(), ix.Sequence)
	}

	// A bundle listed under another board's name is refused.
	err = index([]string{"--key", filepath.Join(dir, "k.key"), "--channel", "stable",
		"--board", "rpi4=" + q + ",https://u.example/x", "--out", out})
	if err == nil || !strings.Contains(err.Error(), "not rpi4") {
		t.Fatalf("wrong board: %v", err)
	}
	// So is a rollout for a board the index does not list.
	err = index([]string{"--key", filepath.Join(dir, "k.key"), "--channel", "stable",
		"--board", "qemu-amd64=" + q + ",https://u.example/x", "--rollout", "rpi4=5", "--out", out})
	if err == nil || !strings.Contains(err.Error(), "rpi4") {
		t.Fatalf("rollout without board: %v", err)
	}
}
