package update

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// A file written into a directory that did not exist yet (slot b's kernel
// on the first update) is durable only if the new directory's entry in its
// parent is synced too, not just the directory holding the file.
func TestDirFSSyncsNewDirectories(t *testing.T) {
	root := t.TempDir()
	var synced []string
	orig := syncDir
	syncDir = func(dir string) error { synced = append(synced, dir); return orig(dir) }
	t.Cleanup(func() { syncDir = orig })

	d := DirFS(root)
	if err := d.WriteFile("/b/vmlinuz", []byte("kernel")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{root, filepath.Join(root, "b")} {
		if !slices.Contains(synced, want) {
			t.Errorf("%s was not synced (synced: %v)", want, synced)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "b", "vmlinuz")); err != nil || string(b) != "kernel" {
		t.Fatalf("read back %q, %v", b, err)
	}
	// Rename and Remove sync the directory they change.
	synced = nil
	if err := d.Rename("/b/vmlinuz", "/b/vmlinuz.old"); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("/b/vmlinuz.old"); err != nil {
		t.Fatal(err)
	}
	if len(synced) != 2 || synced[0] != filepath.Join(root, "b") || synced[1] != filepath.Join(root, "b") {
		t.Fatalf("synced %v, want the directory twice", synced)
	}
}
