package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/bundle"
)

// fakeBox is the part of a box's UI the push command talks to: the login
// form, the CSRF token on pages, /api/update and its status. An accepted
// upload "reboots" it: sessions are forgotten and outcome decides what
// runs afterwards.
type fakeBox struct {
	mu       sync.Mutex
	sessions map[string]bool // cookie value -> logged in
	version  int64
	last     map[string]any
	outcome  func(b *fakeBox) // applied at the "reboot"
	refuse   string
	got      []byte
}

func (b *fakeBox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	ck, _ := r.Cookie("s")
	authed := ck != nil && b.sessions[ck.Value]
	// An API token outlives the reboot, and needs no CSRF token.
	bearer := r.Header.Get("Authorization") == "Bearer "+goodToken
	if r.Header.Get("Authorization") != "" && !bearer {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	authed = authed || bearer
	switch {
	case r.Method == "GET" && r.URL.Path == "/login":
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "anon"})
		b.sessions["anon"] = false
		io.WriteString(w, `<form><input type="hidden" name="csrf" value="LOGIN"/></form>`)
	case r.Method == "POST" && r.URL.Path == "/login":
		if r.PostFormValue("csrf") != "LOGIN" || r.PostFormValue("password") != "secret password" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: "s", Value: "admin"})
		b.sessions["admin"] = true
		http.Redirect(w, r, "/", http.StatusSeeOther)
	case r.Method == "GET" && r.URL.Path == "/" && authed:
		io.WriteString(w, `<form action="/logout"><input type="hidden" name="csrf" value="SESSION"/></form>`)
	case !authed:
		w.WriteHeader(http.StatusUnauthorized)
	case r.Method == "GET" && r.URL.Path == "/api/update/status":
		json.NewEncoder(w).Encode(map[string]any{"running_slot": "a", "running_version": b.version, "blessed": true, "last": b.last})
	case r.Method == "POST" && r.URL.Path == "/api/update":
		if r.Header.Get("X-CSRF-Token") != "SESSION" && !bearer {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		// Like the box: a downgrade is confirmed by the admin password
		// itself, never by the session or token alone.
		if r.URL.Query().Get("allow_downgrade") == "1" && r.Header.Get("X-Admin-Password") != "secret password" {
			w.WriteHeader(http.StatusForbidden)
			json.NewEncoder(w).Encode(map[string]any{"error": "a downgrade needs the admin password"})
			return
		}
		b.got, _ = io.ReadAll(r.Body)
		if b.refuse != "" {
			w.WriteHeader(http.StatusUnprocessableEntity)
			json.NewEncoder(w).Encode(map[string]any{"error": b.refuse, "refused": true})
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"rebooting": true}`)
		b.sessions = map[string]bool{}
		b.outcome(b)
	default:
		http.NotFound(w, r)
	}
}

func testBundle(t *testing.T, version int64) string {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	var buf bytes.Buffer
	src := bundle.Source{Name: bundle.PartRoot, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("root")), nil }}
	if err := bundle.Write(&buf, bundle.Manifest{Product: bundle.Product, Board: "qemu-amd64", Version: version, BuildTime: time.Unix(1, 0)}, priv, []bundle.Source{src}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "x.bundle")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

const goodToken = "rwt_push-token"

func runPush(t *testing.T, fb *fakeBox, fingerprint string, insecure bool) (string, error) {
	return runPushAs(t, fb, credentials{password: "secret password"}, fingerprint, insecure)
}

func runPushAs(t *testing.T, fb *fakeBox, cred credentials, fingerprint string, insecure bool) (string, error) {
	return runPushWith(t, fb, cred, fingerprint, insecure, false)
}

func runPushWith(t *testing.T, fb *fakeBox, cred credentials, fingerprint string, insecure, downgrade bool) (string, error) {
	srv := httptest.NewTLSServer(fb)
	t.Cleanup(srv.Close)
	if fingerprint == "match" {
		sum := sha256.Sum256(srv.Certificate().Raw)
		fingerprint = hex.EncodeToString(sum[:])
	}
	cfg, err := tlsConfig(insecure, fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	path := testBundle(t, 2)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = push(ctx, newClient(srv.URL, cred, cfg), path, 2, downgrade, &out)
	if fb.got != nil {
		want, _ := os.ReadFile(path)
		if !bytes.Equal(fb.got, want) {
			t.Errorf("the box received %d bytes, not the bundle", len(fb.got))
		}
	}
	return out.String(), err
}

func newFake(outcome func(*fakeBox)) *fakeBox {
	return &fakeBox{sessions: map[string]bool{}, version: 1, outcome: outcome}
}

func TestPushSuccess(t *testing.T) {
	fb := newFake(func(b *fakeBox) {
		b.version = 2
		b.last = map[string]any{"result": "success", "version": 2}
	})
	out, err := runPush(t, fb, "match", false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "blessed; upload to blessed took") || !strings.Contains(out, "uploading 100.0%") {
		t.Errorf("output:\n%s", out)
	}
}

func TestPushFallbackReportsReason(t *testing.T) {
	fb := newFake(func(b *fakeBox) {
		b.last = map[string]any{"result": "failed", "version": 2, "reason": "slot b failed its health check: dataplane starting"}
	})
	out, err := runPush(t, fb, "", true)
	if err == nil || !strings.Contains(err.Error(), "failed its health check") {
		t.Fatalf("err %v\n%s", err, out)
	}
}

func TestPushRefusal(t *testing.T) {
	fb := newFake(nil)
	fb.refuse = "bad signature: the manifest is not signed by a key this box trusts"
	_, err := runPush(t, fb, "", true)
	if err == nil || !strings.Contains(err.Error(), "refused the bundle: bad signature") {
		t.Fatalf("err %v", err)
	}
}

func TestPushTLS(t *testing.T) {
	// Without --insecure or a fingerprint, a self-signed box is not trusted.
	if _, err := runPush(t, newFake(nil), "", false); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("unverified TLS accepted: %v", err)
	}
	// A wrong fingerprint is refused.
	if _, err := runPush(t, newFake(nil), strings.Repeat("ab", 32), false); err == nil || !strings.Contains(err.Error(), "fingerprint") {
		t.Fatalf("wrong fingerprint accepted: %v", err)
	}
	if _, err := tlsConfig(false, "xyz"); err == nil {
		t.Fatal("malformed fingerprint accepted")
	}
}

func TestPushWrongPassword(t *testing.T) {
	fb := newFake(nil)
	srv := httptest.NewTLSServer(fb)
	defer srv.Close()
	cfg, _ := tlsConfig(true, "")
	err := newClient(srv.URL, credentials{password: "wrong"}, cfg).login(context.Background())
	if err == nil || !strings.Contains(err.Error(), "refused the password") {
		t.Fatalf("err %v", err)
	}
}

// With --token-file the push needs no login and no CSRF token: the API
// token goes with every request and still works after the box reboots.
func TestPushWithAPIToken(t *testing.T) {
	fb := newFake(func(b *fakeBox) {
		b.version = 2
		b.last = map[string]any{"result": "success", "version": 2}
	})
	out, err := runPushAs(t, fb, credentials{token: goodToken}, "match", false)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "blessed") || fb.got == nil {
		t.Errorf("bundle received %v; output:\n%s", fb.got != nil, out)
	}

	fb = newFake(func(b *fakeBox) {
		b.last = map[string]any{"result": "failed", "version": 2, "reason": "slot b failed its health check"}
	})
	if _, err := runPushAs(t, fb, credentials{token: goodToken}, "match", false); err == nil || !strings.Contains(err.Error(), "failed its health check") {
		t.Fatalf("fallback with a token: %v", err)
	}

	fb = newFake(nil)
	if _, err := runPushAs(t, fb, credentials{token: "rwt_wrong"}, "match", false); err == nil || !strings.Contains(err.Error(), "refused the API token") {
		t.Fatalf("wrong token: %v", err)
	}
	if fb.got != nil {
		t.Fatal("a bundle was uploaded with a refused token")
	}
}

func TestPushCredentialFlags(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	tok := filepath.Join(dir, "tok")
	empty := filepath.Join(dir, "empty")
	os.WriteFile(pw, []byte("secret password\n"), 0o600)
	os.WriteFile(tok, []byte(goodToken+"\n"), 0o600)
	os.WriteFile(empty, []byte("\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--box", "https://x", "x.bundle"}, "usage"},
		{[]string{"--box", "https://x", "--password-file", pw, "--token-file", tok, "x.bundle"}, "exclude each other"},
		{[]string{"--box", "https://x", "--token-file", tok, "--allow-downgrade", "x.bundle"}, "needs --password-file"},
		{[]string{"--box", "https://x", "--token-file", empty, "x.bundle"}, "first line is empty"},
		{[]string{"--box", "https://x", "--token-file", tok, "--insecure", "--fingerprint", strings.Repeat("ab", 32), "x.bundle"}, "exclude each other"},
	} {
		if err := run(c.args); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}

// A downgrade carries the admin password, signed in by token or by
// session: the box refuses one confirmed by neither.
func TestPushDowngradeSendsThePassword(t *testing.T) {
	for _, cred := range []credentials{
		{password: "secret password"},
		{token: goodToken, password: "secret password"},
	} {
		fb := newFake(func(b *fakeBox) {
			b.version = 2
			b.last = map[string]any{"result": "success", "version": 2}
		})
		if _, err := runPushWith(t, fb, cred, "match", false, true); err != nil {
			t.Errorf("token %q: downgrade push: %v", cred.token, err)
		}
		if fb.got == nil {
			t.Errorf("token %q: the bundle was not uploaded", cred.token)
		}
	}
	fb := newFake(func(*fakeBox) {})
	if _, err := runPushWith(t, fb, credentials{token: goodToken}, "match", false, true); err == nil || fb.got != nil {
		t.Fatalf("a downgrade without the password was accepted: %v", err)
	}
}
