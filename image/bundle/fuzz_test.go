package bundle

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// FuzzOpen feeds arbitrary bytes to the reader. Invariants: no panic; every
// failure is a refusal (*Error); and whatever is accepted was signed by the
// trusted key with parts matching the manifest exactly.
func FuzzOpen(f *testing.F) {
	good := makeBundle(f, "qemu-amd64", 2, testKey(1))
	f.Add(good)
	f.Add(good[:headerSize+3])
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Open(bytes.NewReader(b), policy(1))
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Open failed without a refusal: %v", err)
			}
			return
		}
		var total int64
		for {
			p, pr, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				return
			}
			n, err := io.Copy(io.Discard, pr)
			if err != nil {
				return
			}
			if n != p.Size {
				t.Fatalf("part %s: read %d bytes, manifest says %d", p.Name, n, p.Size)
			}
			total += n
		}
		if total > int64(len(b)) {
			t.Fatal("accepted more part bytes than the input holds")
		}
	})
}
