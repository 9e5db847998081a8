package squashfs

import (
	"bytes"
	"testing"
)

// equalTrees compares two trees, ignoring child order.
func equalTrees(t *testing.T, path string, want, got *Node) {
	t.Helper()
	if want.IsDir != got.IsDir || want.Target != got.Target || want.Perm != got.Perm || !bytes.Equal(want.Data, got.Data) {
		t.Errorf("%s: got dir=%v perm=%v target=%q %d bytes, want dir=%v perm=%v target=%q %d bytes",
			path, got.IsDir, got.Perm, got.Target, len(got.Data), want.IsDir, want.Perm, want.Target, len(want.Data))
		return
	}
	w, g := want.sortedChildren(), got.sortedChildren()
	if len(w) != len(g) {
		t.Errorf("%s: %d children, want %d", path, len(g), len(w))
		return
	}
	for i := range w {
		if w[i].Name != g[i].Name {
			t.Errorf("%s: child %q, want %q", path, g[i].Name, w[i].Name)
			return
		}
		equalTrees(t, path+"/"+w[i].Name, w[i], g[i])
	}
}

func TestReadRoundTrip(t *testing.T) {
	want := sampleTree(t)
	got, err := Read(writeImage(t, want))
	if err != nil {
		t.Fatal(err)
	}
	equalTrees(t, "", want, got)
}

func TestReadRejectsDamage(t *testing.T) {
	img := writeImage(t, sampleTree(t))
	for name, mutate := range map[string]func([]byte) []byte{
		"magic":     func(b []byte) []byte { b[0] ^= 1; return b },
		"truncated": func(b []byte) []byte { return b[:len(b)/2] },
		"short":     func(b []byte) []byte { return b[:40] },
		"root ref":  func(b []byte) []byte { b[32] = 0xff; b[33] = 0xff; b[34] = 0x7f; return b },
	} {
		b := mutate(append([]byte(nil), img...))
		if _, err := Read(b); err == nil {
			t.Errorf("%s: Read accepted a damaged image", name)
		}
	}
}

func TestReadEmptyRoot(t *testing.T) {
	// With no listing at all the directory table is empty.
	got, err := Read(writeImage(t, NewTree()))
	if err != nil {
		t.Fatal(err)
	}
	if !got.IsDir || len(got.Children) != 0 {
		t.Fatalf("root %+v", got)
	}
}

func TestReadRejectsCorruptData(t *testing.T) {
	tree := NewTree()
	tree.AddFile("/f", 0o644, bytes.Repeat([]byte("compressible "), 1000))
	img := writeImage(t, tree)
	// The file's only block follows the superblock and is zlib-compressed.
	img[superblockSize+4] ^= 0xff
	img[superblockSize+5] ^= 0xff
	if _, err := Read(img); err == nil {
		t.Fatal("Read accepted a corrupted data block")
	}
}

func FuzzRead(f *testing.F) {
	small := NewTree()
	small.AddFile("/a", 0o644, []byte("hello"))
	small.AddSymlink("/l", "/a")
	small.MkdirAll("/d/e")
	var b bytes.Buffer
	if err := Write(&b, small, 1); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, img []byte) {
		root, err := Read(img)
		if err != nil {
			return
		}
		// Whatever parses must survive a round trip through the writer.
		var out bytes.Buffer
		if err := Write(&out, root, 1); err != nil {
			return // e.g. names the writer refuses; not a reader bug
		}
		again, err := Read(out.Bytes())
		if err != nil {
			t.Fatalf("re-reading a rewritten image: %v", err)
		}
		equalTrees(t, "", root, again)
	})
}
