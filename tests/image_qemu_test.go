package tests

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image"
)

// The qemu-amd64 tests share one image, built once per test binary run:
// version 1 at testEpoch, trusting qemuUpdateKeys, with every program the
// board ships. The content tests read it as it is; the tests that boot it or
// write to it (qemu, the loop device) each get a private copy, which costs a
// second where a build costs most of a minute.
var (
	qemuKeysOnce sync.Once
	qemuKeys     updateKeys
)

// qemuUpdateKeys is the update signing key the shared qemu image trusts
// (as test.pub), generated once per run.
func qemuUpdateKeys(t testing.TB) updateKeys {
	t.Helper()
	qemuKeysOnce.Do(func() {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err) // crypto/rand does not fail on Linux
		}
		qemuKeys = updateKeys{priv: priv, pubTxt: []byte("rackwall-ed25519-public " + base64.StdEncoding.EncodeToString(pub) + "\n")}
	})
	return qemuKeys
}

// qemuImageName is the shared image's key in testImage's cache.
const qemuImageName = "qemu-amd64-v1"

// qemuImage returns the shared qemu image, building it if this run has not
// yet. The content tests read it; nothing may write to it.
func qemuImage(t testing.TB) string {
	t.Helper()
	return cachedImage(t, qemuImageName, func(out string) {
		keys := qemuUpdateKeys(t)
		buildImage(t, "qemu-amd64", out, func(c *image.Config) {
			c.Version = "1"
			c.UpdateKeys = map[string][]byte{"test.pub": keys.pubTxt}
		})
	})
}

// qemuDisk returns a private, writable copy of the shared qemu image in a
// folder of t's, building the image first if this run has not yet.
func qemuDisk(t testing.TB) string {
	t.Helper()
	src := qemuImage(t)
	dst := filepath.Join(t.TempDir(), "disk.img")
	start := time.Now()
	if err := copySparse(src, dst); err != nil {
		t.Fatalf("copying the test image: %v", err)
	}
	t.Logf("disk: a copy of the run's qemu image (%.1fs)", time.Since(start).Seconds())
	return dst
}

// copySparse copies a disk image, leaving holes where the source has
// blocks of zeros, so a 1.2 GB image with a few hundred MB of data copies
// in about a second and takes only its data's room.
func copySparse(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	zero := make([]byte, len(buf))
	var size int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if bytes.Equal(buf[:n], zero[:n]) {
				if _, err := out.Seek(int64(n), io.SeekCurrent); err != nil {
					out.Close()
					return err
				}
			} else if _, err := out.Write(buf[:n]); err != nil {
				out.Close()
				return err
			}
			size += int64(n)
		}
		if rerr == io.EOF || errors.Is(rerr, io.ErrUnexpectedEOF) {
			break
		}
		if rerr != nil {
			out.Close()
			return rerr
		}
	}
	// A trailing hole is not written: the size has to be set.
	if err := out.Truncate(size); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
