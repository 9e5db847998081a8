package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"testing"
)

// signedBundle frames manifest and parts as a bundle whose manifest is
// signed by the fuzzing key, so the reader gets past the signature check.
func signedBundle(manifest, parts []byte) []byte {
	hdr := make([]byte, headerSize)
	copy(hdr, magic)
	binary.BigEndian.PutUint32(hdr[8:], formatVersion)
	binary.BigEndian.PutUint32(hdr[12:], uint32(len(manifest)))
	out := append(hdr, manifest...)
	out = append(out, ed25519.Sign(testKey(1), manifest)...)
	return append(out, parts...)
}

// fixHashes rewrites the manifest so every part's hash matches the bytes
// at its place in parts (where parts holds them). Mutating JSON rarely
// produces a matching SHA-256; this lets the fuzzer reach the accepting
// paths of the part reader as well as its refusals.
func fixHashes(manifest, parts []byte) []byte {
	var m Manifest
	if json.Unmarshal(manifest, &m) != nil {
		return manifest
	}
	off := int64(0)
	for i := range m.Parts {
		p := &m.Parts[i]
		if p.Size < 0 || off+p.Size > int64(len(parts)) {
			break
		}
		sum := sha256.Sum256(parts[off : off+p.Size])
		p.SHA256 = hex.EncodeToString(sum[:])
		off += p.Size
	}
	out, err := json.Marshal(m)
	if err != nil {
		return manifest
	}
	return out
}

// FuzzOpenSigned builds a bundle from a fuzzed manifest and fuzzed part
// bytes, signs the manifest with the trusted test key and reads it under a
// fuzzed policy. Invariants: no panic; every failure is a refusal; an
// accepted manifest is valid and obeys the policy (board, floor,
// downgrade); every part read to its end has exactly the size and hash the
// manifest states; and a bundle whose parts are exactly what its manifest
// pins is read to the end without a refusal.
func FuzzOpenSigned(f *testing.F) {
	seed := func(m Manifest, parts []byte, fix bool, running, floor int64, downgrade bool) {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, parts, fix, running, floor, downgrade)
	}
	three := []Part{{Name: PartKernel, Size: 3}, {Name: PartEntry, Size: 2}, {Name: PartRoot, Size: 5}}
	base := Manifest{Product: Product, Board: "qemu-amd64", Version: 5, Parts: three}
	seed(base, []byte("KKKEERRRRR"), true, 4, 0, false)
	floored := base
	floored.MinVersion = 5
	seed(floored, []byte("KKKEERRRRR"), true, 9, 6, true)
	seed(base, []byte("KKKEERRR"), true, 4, 0, false)        // truncated root
	seed(base, []byte("KKKEERRRRRextra"), true, 4, 0, false) // bytes after the last part
	seed(base, []byte("KKKEERRRRR"), false, 4, 0, false)     // hashes left wrong
	f.Add([]byte(`{"product":"rackwall","board":"qemu-amd64","version":1,"parts":[{"name":"root","size":0,"sha256":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}],"x":1}`), []byte{}, false, int64(0), int64(0), false)
	f.Add([]byte(`{"product":"rackwall","board":"qemu-amd64","version":1,"parts":[]}`), []byte{}, false, int64(0), int64(0), false)

	f.Fuzz(func(t *testing.T, manifest, parts []byte, fix bool, running, floor int64, downgrade bool) {
		if fix {
			manifest = fixHashes(manifest, parts)
		}
		if len(manifest) == 0 || len(manifest) > maxManifest {
			return // the header check, not what this target is for
		}
		pol := Policy{Board: "qemu-amd64", Keys: []ed25519.PublicKey{testKey(1).Public().(ed25519.PublicKey)},
			RunningVersion: running, AllowDowngrade: downgrade, Floor: floor}
		r, err := Open(bytes.NewReader(signedBundle(manifest, parts)), pol)
		if err != nil {
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("Open failed without a refusal: %v", err)
			}
			return
		}
		m := r.Manifest
		if err := m.Validate(); err != nil {
			t.Fatalf("accepted an invalid manifest: %v", err)
		}
		if m.Board != pol.Board || m.Version < floor || (!downgrade && m.Version <= running) {
			t.Fatalf("accepted version %d board %q under policy %+v", m.Version, m.Board, pol)
		}
		var declared int64
		for _, p := range m.Parts {
			declared += p.Size
		}
		exact := declared == int64(len(parts)) && hashesMatch(m, parts)
		var off int64
		for {
			p, pr, err := r.NextPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				var re *Error
				if !errors.As(err, &re) {
					t.Fatalf("NextPart failed without a refusal: %v", err)
				}
				if exact {
					t.Fatalf("exact bundle refused: %v", err)
				}
				return
			}
			data, err := io.ReadAll(pr)
			if err != nil {
				var re *Error
				if !errors.As(err, &re) {
					t.Fatalf("part %s failed without a refusal: %v", p.Name, err)
				}
				if exact {
					t.Fatalf("exact bundle: part %s refused: %v", p.Name, err)
				}
				return
			}
			sum := sha256.Sum256(data)
			if int64(len(data)) != p.Size || hex.EncodeToString(sum[:]) != p.SHA256 {
				t.Fatalf("part %s read to its end with %d bytes, hash %x; manifest says %d, %s", p.Name, len(data), sum, p.Size, p.SHA256)
			}
			if !bytes.Equal(data, parts[off:off+p.Size]) {
				t.Fatalf("part %s: bytes differ from the bundle's", p.Name)
			}
			off += p.Size
		}
		if off != int64(len(parts)) {
			t.Fatalf("reader finished after %d of %d part bytes", off, len(parts))
		}
	})
}

// hashesMatch says whether parts is exactly the manifest's parts, in order.
func hashesMatch(m Manifest, parts []byte) bool {
	var off int64
	for _, p := range m.Parts {
		if off+p.Size > int64(len(parts)) {
			return false
		}
		sum := sha256.Sum256(parts[off : off+p.Size])
		if hex.EncodeToString(sum[:]) != p.SHA256 {
			return false
		}
		off += p.Size
	}
	return off == int64(len(parts))
}

// The fuzz target's framing must produce bundles the reader accepts, or
// the fuzzer never gets past Open.
func TestSignedBundleFramingAccepted(t *testing.T) {
	m := Manifest{Product: Product, Board: "qemu-amd64", Version: 5, MinVersion: 5,
		Parts: []Part{{Name: PartKernel, Size: 3}, {Name: PartRoot, Size: 4}}}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	parts := []byte("KKKRRRR")
	got, err := readAll(signedBundle(fixHashes(raw, parts), parts), policy(4))
	if err != nil {
		t.Fatal(err)
	}
	if string(got[PartKernel]) != "KKK" || string(got[PartRoot]) != "RRRR" {
		t.Fatalf("parts %q", got)
	}
}
