package bundle

import (
	"bytes"
	"errors"
	"testing"
)

func TestPeekManifest(t *testing.T) {
	good := makeBundle(t, "qemu-amd64", 7, testKey(1))
	m, err := PeekManifest(bytes.NewReader(good))
	if err != nil || m.Version != 7 || m.Board != "qemu-amd64" {
		t.Fatalf("%+v %v", m, err)
	}
	for _, bad := range [][]byte{nil, []byte("RWBUNDLE"), good[:headerSize+5], append([]byte("XXBUNDLE"), good[8:]...)} {
		if _, err := PeekManifest(bytes.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// FuzzPeekManifest: PeekManifest reads untrusted bytes too; it must never
// panic and must fail with a refusal or a validation error.
func FuzzPeekManifest(f *testing.F) {
	f.Add(makeBundle(f, "qemu-amd64", 2, testKey(1)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := PeekManifest(bytes.NewReader(b))
		if err != nil {
			var re *Error
			if !errors.As(err, &re) && m.Validate() == nil {
				t.Fatalf("error %v without a refusal on a valid manifest", err)
			}
			return
		}
		if m.Validate() != nil {
			t.Fatal("returned an invalid manifest without an error")
		}
	})
}
