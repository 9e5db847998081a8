package bundle

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func testKey(seed byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
}

func bytesSource(name string, b []byte) Source {
	return Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }}
}

var (
	kernel = bytes.Repeat([]byte("K"), 3000)
	entry  = []byte("title rackwall\nlinux /b/vmlinuz\n")
	root   = bytes.Repeat([]byte("squashfs"), 10000)
)

func makeBundle(t testing.TB, board string, version int64, key ed25519.PrivateKey) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := Manifest{Product: Product, Board: board, Version: version, BuildTime: time.Unix(1700000000, 0).UTC()}
	err := Write(&buf, m, key, []Source{
		bytesSource(PartKernel, kernel), bytesSource(PartEntry, entry), bytesSource(PartRoot, root),
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func policy(running int64) Policy {
	return Policy{Board: "qemu-amd64", Keys: []ed25519.PublicKey{testKey(1).Public().(ed25519.PublicKey)}, RunningVersion: running}
}

// readAll opens a bundle and reads every part, returning them by name.
func readAll(b []byte, pol Policy) (map[string][]byte, error) {
	r, err := Open(bytes.NewReader(b), pol)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for {
		p, pr, err := r.NextPart()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		data, err := io.ReadAll(pr)
		if err != nil {
			return nil, err
		}
		out[p.Name] = data
	}
}

func TestRoundTrip(t *testing.T) {
	b := makeBundle(t, "qemu-amd64", 2, testKey(1))
	parts, err := readAll(b, policy(1))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(parts[PartKernel], kernel) || !bytes.Equal(parts[PartEntry], entry) || !bytes.Equal(parts[PartRoot], root) {
		t.Fatal("parts differ after a round trip")
	}
}

func TestRefusals(t *testing.T) {
	good := makeBundle(t, "qemu-amd64", 2, testKey(1))
	corruptRoot := bytes.Clone(good)
	corruptRoot[len(corruptRoot)-100] ^= 0xff
	badSig := bytes.Clone(good)
	badSig[headerSize+5] ^= 1 // inside the manifest: signature no longer matches
	trailing := append(bytes.Clone(good), 'x')

	cases := []struct {
		name   string
		bundle []byte
		pol    Policy
		want   string
	}{
		{"signed by an unknown key", makeBundle(t, "qemu-amd64", 2, testKey(2)), policy(1), "bad signature"},
		{"manifest altered", badSig, policy(1), "bad signature"},
		{"another board", makeBundle(t, "rpi4", 2, testKey(1)), policy(1), `for board "rpi4"`},
		{"downgrade", makeBundle(t, "qemu-amd64", 1, testKey(1)), policy(2), "not newer"},
		{"same version", makeBundle(t, "qemu-amd64", 2, testKey(1)), policy(2), "not newer"},
		{"truncated in the root", good[:len(good)-10], policy(1), "truncated"},
		{"truncated in the header", good[:10], policy(1), "too short"},
		{"truncated in the manifest", good[:headerSize+20], policy(1), "truncated in its manifest"},
		{"corrupted root", corruptRoot, policy(1), "part root is corrupted"},
		{"bytes after the last part", trailing, policy(1), "after its last part"},
		{"not a bundle", []byte(strings.Repeat("garbage!", 10)), policy(1), "bad magic"},
		{"no trusted keys", good, Policy{Board: "qemu-amd64"}, "trusts no update keys"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := readAll(c.bundle, c.pol)
			var re *Error
			if !errors.As(err, &re) {
				t.Fatalf("got %v, want a refusal", err)
			}
			if !strings.Contains(re.Reason, c.want) {
				t.Fatalf("reason %q does not say %q", re.Reason, c.want)
			}
		})
	}
	allow := policy(2)
	allow.AllowDowngrade = true
	if _, err := readAll(makeBundle(t, "qemu-amd64", 1, testKey(1)), allow); err != nil {
		t.Fatalf("explicitly allowed downgrade refused: %v", err)
	}
}

// Open must decide on signature, board and version before it reads any part.
func TestOpenReadsNoPart(t *testing.T) {
	b := makeBundle(t, "qemu-amd64", 2, testKey(1))
	r := bytes.NewReader(b)
	br, err := Open(r, policy(1))
	if err != nil {
		t.Fatal(err)
	}
	consumed := int64(len(b)) - int64(r.Len())
	if want := int64(len(b)) - br.Manifest.size(0) + int64(headerSize+ed25519.SignatureSize); consumed != want {
		t.Fatalf("Open consumed %d bytes, want exactly header+manifest+signature = %d", consumed, want)
	}
}

func TestKeysFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "k"), filepath.Join(dir, "k.pub")
	if err := GenerateKeys(priv, pub); err != nil {
		t.Fatal(err)
	}
	if err := GenerateKeys(priv, pub); err == nil {
		t.Fatal("an existing private key was overwritten")
	}
	sk, err := LoadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pks, err := LoadPublicKeys(pub)
	if err != nil || len(pks) != 1 || !pks[0].Equal(sk.Public()) {
		t.Fatalf("public key does not match: %v", err)
	}
	if _, err := ParsePublicKey("rackwall-ed25519-public AAAA"); err == nil {
		t.Fatal("short key accepted")
	}
}

func makeBundleWithFloor(t testing.TB, version, minVersion int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	m := Manifest{Product: Product, Board: "qemu-amd64", Version: version, MinVersion: minVersion, BuildTime: time.Unix(1700000000, 0).UTC()}
	if err := Write(&buf, m, testKey(1), []Source{bytesSource(PartRoot, root)}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// The floor is absolute: an explicitly allowed downgrade below it is still
// refused, one at the floor is not.
func TestFloorRefusesEvenAllowedDowngrades(t *testing.T) {
	pol := policy(9)
	pol.AllowDowngrade, pol.Floor = true, 7
	_, err := readAll(makeBundle(t, "qemu-amd64", 6, testKey(1)), pol)
	var re *Error
	if !errors.As(err, &re) || !strings.Contains(re.Reason, "below this box's minimum version 7") {
		t.Fatalf("version 6 under floor 7 with downgrades allowed: %v", err)
	}
	if _, err := readAll(makeBundle(t, "qemu-amd64", 7, testKey(1)), pol); err != nil {
		t.Fatalf("version 7 at floor 7: %v", err)
	}
	// The floor binds upgrades too: a box that ran 9 with floor 7 and
	// then fell back to 5 still cannot take 6.
	pol = policy(5)
	pol.Floor = 7
	if _, err := readAll(makeBundle(t, "qemu-amd64", 6, testKey(1)), pol); !errors.As(err, &re) || !strings.Contains(re.Reason, "minimum version") {
		t.Fatalf("upgrade to 6 under floor 7: %v", err)
	}
}

// MinVersion travels signed in the manifest, and a bundle cannot set a
// floor above itself.
func TestMinVersionInManifest(t *testing.T) {
	b := makeBundleWithFloor(t, 8, 8)
	r, err := Open(bytes.NewReader(b), policy(1))
	if err != nil {
		t.Fatal(err)
	}
	if r.Manifest.MinVersion != 8 {
		t.Fatalf("min_version read back as %d", r.Manifest.MinVersion)
	}
	// Lowering the floor in transit breaks the signature.
	i := bytes.Index(b, []byte(`"min_version":8`))
	if i < 0 {
		t.Fatal("min_version not in the manifest bytes")
	}
	tampered := bytes.Clone(b)
	tampered[i+len(`"min_version":`)] = '1'
	if _, err := Open(bytes.NewReader(tampered), policy(1)); err == nil || !strings.Contains(err.Error(), "bad signature") {
		t.Fatalf("tampered floor: %v", err)
	}
	var buf bytes.Buffer
	m := Manifest{Product: Product, Board: "qemu-amd64", Version: 3, MinVersion: 4, BuildTime: time.Unix(1, 0).UTC()}
	if err := Write(&buf, m, testKey(1), []Source{bytesSource(PartRoot, root)}); err == nil || !strings.Contains(err.Error(), "minimum version 4") {
		t.Fatalf("floor above the bundle's own version: %v", err)
	}
}
