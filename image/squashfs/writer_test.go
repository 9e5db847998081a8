package squashfs

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sampleTree covers every kind of node, a file spanning several blocks with
// an incompressible block, an empty file and a directory big enough to
// spill over several metadata blocks.
func sampleTree(t testing.TB) *Node {
	root := NewTree()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(root.AddFile("/gokrazy/init", 0o755, bytes.Repeat([]byte("init!"), 70000)))
	noise := make([]byte, 3*blockSize+17)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	must(root.AddFile("/user/noise", 0o755, noise))
	must(root.AddFile("/etc/empty", 0o644, nil))
	must(root.AddFile("/etc/hostname", 0o644, []byte("rackwall\n")))
	must(root.AddSymlink("/var", "/perm/var"))
	must(root.AddSymlink("/etc/resolv.conf", "/tmp/resolv.conf"))
	for _, d := range []string{"dev", "proc", "sys", "tmp", "perm"} {
		_, err := root.MkdirAll(d)
		must(err)
	}
	for i := range 600 {
		must(root.AddFile(fmt.Sprintf("/lib/many/file-with-a-long-name-%04d", i), 0o600, []byte(fmt.Sprint(i))))
	}
	return root
}

func writeImage(t testing.TB, root *Node) []byte {
	var b bytes.Buffer
	if err := Write(&b, root, 1700000000); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestWriteIsDeterministic(t *testing.T) {
	a := sha256.Sum256(writeImage(t, sampleTree(t)))
	b := sha256.Sum256(writeImage(t, sampleTree(t)))
	if a != b {
		t.Fatal("two writes of the same tree differ")
	}
}

func TestUnsquashfsAcceptsImage(t *testing.T) {
	bin, err := exec.LookPath("unsquashfs")
	if err != nil {
		t.Skip("needs unsquashfs (squashfs-tools)")
	}
	img := filepath.Join(t.TempDir(), "root.squashfs")
	if err := os.WriteFile(img, writeImage(t, sampleTree(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-lls", "-n", img)
	cmd.Env = append(os.Environ(), "TZ=UTC") // the listing shows local times
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lls: %v\n%s", err, out)
	}
	listing := string(out)
	for _, want := range []string{
		"-rwxr-xr-x root/root            350000 2023-11-14 22:13 squashfs-root/gokrazy/init",
		"lrwxrwxrwx root/root                 9 2023-11-14 22:13 squashfs-root/var -> /perm/var",
		"lrwxrwxrwx root/root                16 2023-11-14 22:13 squashfs-root/etc/resolv.conf -> /tmp/resolv.conf",
		"-rw-r--r-- root/root                 0 2023-11-14 22:13 squashfs-root/etc/empty",
		"drwxr-xr-x root/root",
		"squashfs-root/lib/many/file-with-a-long-name-0599",
	} {
		if !strings.Contains(listing, want) {
			t.Errorf("unsquashfs listing lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("listing:\n%s", listing)
	}

	// Extract and compare contents byte for byte.
	dest := filepath.Join(t.TempDir(), "x")
	if out, err := exec.Command(bin, "-no-xattrs", "-d", dest, img).CombinedOutput(); err != nil {
		t.Fatalf("unsquashfs extract: %v\n%s", err, out)
	}
	tree := sampleTree(t)
	for _, p := range []string{"/gokrazy/init", "/user/noise", "/etc/hostname", "/lib/many/file-with-a-long-name-0123"} {
		got, err := os.ReadFile(filepath.Join(dest, p))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tree.Lookup(p).Data) {
			t.Errorf("%s: extracted content differs", p)
		}
	}
	if target, err := os.Readlink(filepath.Join(dest, "var")); err != nil || target != "/perm/var" {
		t.Errorf("var -> %q, %v", target, err)
	}
}
