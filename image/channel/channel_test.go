package channel

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// testKey is fixed so the fuzz seeds stay signed by it.
func testKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

func sampleIndex() Index {
	ten := 10
	return Index{Format: FormatVersion, Channel: "stable", Sequence: 3, Issued: time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC),
		Entries: []Entry{
			{Board: "qemu-amd64", Version: 5, Size: 1234, SHA256: strings.Repeat("ab", 32), URL: "https://updates.example.net/qemu-amd64-5.bundle"},
			{Board: "rpi4", Version: 4, Size: 99, SHA256: strings.Repeat("0f", 32), URL: "https://updates.example.net/rpi4-4.bundle", RolloutPercent: &ten},
		}}
}

func TestSignOpenRoundTrip(t *testing.T) {
	pub, priv := testKey()
	data, err := Sign(sampleIndex(), priv)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := Open(data, []ed25519.PublicKey{pub})
	if err != nil {
		t.Fatal(err)
	}
	e, ok := ix.Entry("rpi4")
	if !ok || e.Version != 4 || e.Rollout() != 10 {
		t.Fatalf("rpi4 entry = %+v, %v", e, ok)
	}
	if e, _ := ix.Entry("qemu-amd64"); e.Rollout() != 100 {
		t.Fatalf("absent rollout_percent reads as %d, want 100", e.Rollout())
	}
	if ix.Sequence != 3 || ix.Channel != "stable" {
		t.Fatalf("index = %+v", ix)
	}
}

// resign replaces the body of a signed index and signs it again, so a test
// reaches the decoder with a body Sign would never write.
func resign(t *testing.T, priv ed25519.PrivateKey, body string) []byte {
	t.Helper()
	return signBody(priv, []byte(body))
}

func TestOpenRefuses(t *testing.T) {
	pub, priv := testKey()
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	good, err := Sign(sampleIndex(), priv)
	if err != nil {
		t.Fatal(err)
	}
	_, body, _ := bytes.Cut(good[len(header):], []byte("\n"))
	entry := `{"board":"qemu-amd64","version":5,"size":10,"sha256":"` + strings.Repeat("ab", 32) + `","url":"https://u.example/x"`
	wrap := func(extra string) string {
		return `{"format":1,"channel":"stable","sequence":2,"issued":"2026-05-01T12:00:00Z","entries":[` + entry + extra + `}]}`
	}
	tampered := append([]byte(nil), good...)
	tampered[len(tampered)-5] ^= 1
	otherSigned, _ := Sign(sampleIndex(), otherPriv)
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"tampered body", tampered, "bad signature"},
		{"other key", otherSigned, "bad signature"},
		{"no header", body, "not a rackwall channel index"},
		{"bad signature line", append([]byte(header+"nope\n"), body...), "signature line"},
		{"no signature line", []byte(header + "abc"), "truncated"},
		{"unknown field", resign(t, priv, wrap(`,"mirror":"x"`)), `unknown field "mirror"`},
		{"duplicate field", resign(t, priv, wrap(`,"version":9`)), `"version" appears twice`},
		{"duplicate field other case", resign(t, priv, wrap(`,"Version":9`)), `appears twice`},
		{"trailing data", resign(t, priv, wrap(``)+"{}"), "data after"},
		{"rollout over 100", resign(t, priv, wrap(`,"rollout_percent":101`)), "rollout_percent 101"},
		{"rollout negative", resign(t, priv, wrap(`,"rollout_percent":-1`)), "rollout_percent -1"},
		{"http url", resign(t, priv, strings.Replace(wrap(``), "https://", "http://", 1)), "not an https:// URL"},
		{"bad hash", resign(t, priv, strings.Replace(wrap(``), strings.Repeat("ab", 32), "AB", 1)), "sha256"},
		{"zero size", resign(t, priv, strings.Replace(wrap(``), `"size":10`, `"size":0`, 1)), "size 0"},
		{"zero sequence", resign(t, priv, strings.Replace(wrap(``), `"sequence":2`, `"sequence":0`, 1)), "sequence 0"},
		{"format 2", resign(t, priv, strings.Replace(wrap(``), `"format":1`, `"format":2`, 1)), "format 2"},
		{"board twice", resign(t, priv, strings.Replace(wrap(``), `}]}`, `},`+entry+`}]}`, 1)), "listed twice"},
		{"no entries", resign(t, priv, `{"format":1,"channel":"stable","sequence":2,"issued":"2026-05-01T12:00:00Z","entries":[]}`), "0 entries"},
		{"too large", append(append([]byte(nil), good...), bytes.Repeat([]byte(" "), MaxIndexBytes)...), "larger than"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ix, err := Open(c.data, []ed25519.PublicKey{pub})
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Open = %+v, %v; want a refusal", ix, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
		})
	}
}

func TestOpenNeedsKeys(t *testing.T) {
	_, priv := testKey()
	data, _ := Sign(sampleIndex(), priv)
	if _, err := Open(data, nil); err == nil || !strings.Contains(err.Error(), "trusts no update keys") {
		t.Fatalf("Open with no keys = %v", err)
	}
}

func TestSignRefusesInvalid(t *testing.T) {
	_, priv := testKey()
	ix := sampleIndex()
	ix.Entries[0].URL = "ftp://x/y"
	if _, err := Sign(ix, priv); err == nil {
		t.Fatal("Sign accepted an ftp URL")
	}
}

// Rollout shares are stable per box and nested: a box in the 10 % is in
// the 50 %, none is in 0 % and all are in 100 %; about the stated share of
// many boxes is in.
func TestRolloutStableAndNested(t *testing.T) {
	in10, in50 := 0, 0
	for i := range 2000 {
		id := strings.Repeat("0", 28) + fmt.Sprintf("%04x", i)
		if Bucket(id, 7) != Bucket(id, 7) {
			t.Fatal("bucket not stable")
		}
		if InRollout(id, 7, 0) || !InRollout(id, 7, 100) {
			t.Fatalf("%s: 0 %% or 100 %% wrong", id)
		}
		if InRollout(id, 7, 10) {
			in10++
			if !InRollout(id, 7, 50) {
				t.Fatalf("%s in the 10 %% but not the 50 %%", id)
			}
		}
		if InRollout(id, 7, 50) {
			in50++
		}
	}
	if in10 < 140 || in10 > 260 || in50 < 880 || in50 > 1120 {
		t.Fatalf("10 %%: %d of 2000, 50 %%: %d of 2000", in10, in50)
	}
}
