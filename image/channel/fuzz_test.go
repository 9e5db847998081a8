package channel

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"testing"
)

func signBody(priv ed25519.PrivateKey, body []byte) []byte {
	out := []byte(header + base64.StdEncoding.EncodeToString(ed25519.Sign(priv, body)) + "\n")
	return append(out, body...)
}

// FuzzOpenIndex feeds arbitrary bytes to Open twice: as a whole index file
// (the envelope and signature checks), and as a body signed with the test
// key (so the strict decoder and validation see every input, not only the
// ones whose signature happens to verify). Whatever Open accepts must be
// valid and survive a sign-and-open round trip unchanged.
func FuzzOpenIndex(f *testing.F) {
	pub, priv := testKey()
	good, err := Sign(sampleIndex(), priv)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	_, body, _ := bytes.Cut(good[len(header):], []byte("\n"))
	f.Add(body)
	keys := []ed25519.PublicKey{pub}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, in := range [][]byte{data, signBody(priv, data)} {
			ix, err := Open(in, keys)
			if err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("Open returned %T %v, want *Error", err, err)
				}
				continue
			}
			if err := ix.Validate(); err != nil {
				t.Fatalf("Open accepted an invalid index: %v", err)
			}
			again, err := Sign(*ix, priv)
			if err != nil {
				t.Fatalf("re-signing an accepted index: %v", err)
			}
			ix2, err := Open(again, keys)
			if err != nil {
				t.Fatalf("re-opening a re-signed index: %v", err)
			}
			if ix2.Sequence != ix.Sequence || len(ix2.Entries) != len(ix.Entries) || ix2.Channel != ix.Channel {
				t.Fatalf("round trip changed the index: %+v vs %+v", ix, ix2)
			}
		}
	})
}
