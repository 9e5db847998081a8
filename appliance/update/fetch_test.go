package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// lockedBuffer is a log sink the agent's goroutines may write while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func fetchAgent(t *testing.T, fb *fakeBox, pub ed25519.PublicKey, f *Fetcher) (*Agent, *lockedBuffer) {
	t.Helper()
	var log lockedBuffer
	a, err := New(Config{Board: fb.board, Keys: []ed25519.PublicKey{pub}, RunningVersion: 1, StateDir: filepath.Join(fb.dir, "perm"),
		Machine: fb, RebootDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(&log, nil)),
		PasswordConfirmed: testPasswordConfirmed, PasswordHeader: "X-Admin-Password", Fetcher: f})
	mustNo(t, err)
	return a, &log
}

func tlsRoots(srv *httptest.Server) *x509.CertPool {
	return srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
}

func fetchURL(t *testing.T, a *Agent, url string) (int, string) {
	t.Helper()
	code, out := post(t, a.Handler(), "/api/update/fetch", []byte(`{"url":"`+url+`"}`), "application/json")
	return code, fmt.Sprint(out["error"])
}

// leaks reports what of the box's surroundings an error shown to the
// client gives away.
func leaks(msg string) bool {
	for _, s := range []string{"127.0.0.1", "::1", "169.254", "dial", "loopback", "link-local", "own address", "connect", "redirect"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func TestFetchHTTPSAndRedirects(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	data := makeBundle(t, priv, testBundle{version: 3})
	var loops atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/b.bundle":
			w.Write(data)
		case "/to-http":
			http.Redirect(w, r, strings.Replace(srv.URL, "https:", "http:", 1)+"/b.bundle", http.StatusFound)
		case "/to-link-local":
			http.Redirect(w, r, "https://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-metadata-name":
			http.Redirect(w, r, "https://metadata.internal/x", http.StatusFound)
		case "/loop":
			loops.Add(1)
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/one-hop":
			http.Redirect(w, r, "/b.bundle", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	f := &Fetcher{AllowLoopback: true, RootCAs: tlsRoots(srv),
		lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
			if host == "metadata.internal" {
				return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
			}
			return nil, fmt.Errorf("no such host %s", host)
		}}
	a, log := fetchAgent(t, fb, pub, f)

	if code, msg := fetchURL(t, a, srv.URL+"/missing"); code != http.StatusBadRequest || !strings.Contains(msg, "404") {
		t.Errorf("missing: %d %s", code, msg)
	}
	for _, u := range []string{"file:///etc/passwd", strings.Replace(srv.URL, "https:", "http:", 1) + "/b.bundle", "ftp://x/y"} {
		if code, msg := fetchURL(t, a, u); code != http.StatusBadRequest || !strings.Contains(msg, "only https") {
			t.Errorf("%s: %d %s", u, code, msg)
		}
	}
	// Redirects are held to the same rules; the client learns only that
	// the fetch failed, the log says why.
	for path, logged := range map[string]string{
		"/to-http":          "only https",
		"/to-link-local":    "link-local",
		"/to-metadata-name": "169.254.169.254 is a link-local address",
		"/loop":             "more than 3 redirects",
	} {
		code, msg := fetchURL(t, a, srv.URL+path)
		if code != http.StatusBadGateway || msg != errFetchFailed.Error() || leaks(msg) {
			t.Errorf("%s: %d %q, want 502 with the generic error", path, code, msg)
		}
		if !strings.Contains(log.String(), logged) {
			t.Errorf("%s: the log does not say %q:\n%s", path, logged, log)
		}
	}
	if n := loops.Load(); n != maxRedirects+1 {
		t.Errorf("the redirect loop was followed %d times, want %d", n, maxRedirects+1)
	}
	fb.noReboot()
	code, msg := fetchURL(t, a, srv.URL+"/one-hop")
	if code != http.StatusAccepted {
		t.Fatalf("fetch through one redirect: %d %s", code, msg)
	}
	fb.waitReboot()
}

// The same local server is refused without the test-only option: loopback
// is never fetched from, and the refusal does not say why to the client.
func TestFetchRefusesLoopbackByDefault(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	data := makeBundle(t, priv, testBundle{version: 3})
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write(data)
	}))
	defer srv.Close()
	a, log := fetchAgent(t, fb, pub, &Fetcher{RootCAs: tlsRoots(srv)})
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	for _, u := range []string{srv.URL + "/b.bundle", fmt.Sprintf("https://localhost:%d/b.bundle", port)} {
		code, msg := fetchURL(t, a, u)
		if u == srv.URL+"/b.bundle" {
			// A literal address is the client's own input: it may be told.
			if code != http.StatusBadRequest || !strings.Contains(msg, "loopback") {
				t.Errorf("%s: %d %s", u, code, msg)
			}
			continue
		}
		if code != http.StatusBadGateway || leaks(msg) {
			t.Errorf("%s: %d %q", u, code, msg)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("the loopback server was reached %d times", hits.Load())
	}
	if !strings.Contains(log.String(), "loopback address") {
		t.Fatalf("the log does not say why:\n%s", log)
	}
	fb.noReboot()
}

// Every address a name resolves to is checked, and the box's own
// addresses are as forbidden as loopback.
func TestFetchChecksEveryResolvedAddress(t *testing.T) {
	own := netip.MustParseAddr("198.51.100.4")
	names := map[string][]string{
		"mixed.example":      {"203.0.113.7", "127.0.0.1"},
		"box.example":        {"198.51.100.4"},
		"mapped.example":     {"::ffff:127.0.0.1"},
		"zero.example":       {"0.0.0.0"},
		"zeronet.example":    {"0.1.2.3"},
		"multicast.example":  {"224.0.0.251"},
		"multicast6.example": {"ff02::1"},
		"ll6.example":        {"fe80::1"},
		"broadcast.example":  {"255.255.255.255"},
		"own6.example":       {"2001:db8::4"},
	}
	f := &Fetcher{
		lookup: func(_ context.Context, host string) ([]netip.Addr, error) {
			var out []netip.Addr
			for _, s := range names[host] {
				out = append(out, netip.MustParseAddr(s))
			}
			return out, nil
		},
		ownAddrs: func() ([]netip.Addr, error) { return []netip.Addr{own, netip.MustParseAddr("2001:db8::4")}, nil },
	}
	for host := range names {
		start := time.Now()
		_, err := f.open(context.Background(), "https://"+host+"/b.bundle")
		if err == nil || !strings.Contains(err.Error(), "address") {
			t.Errorf("%s: %v", host, err)
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("%s: refused only after %s: it was dialled", host, time.Since(start))
		}
	}
	// Literal addresses in the URL are refused from the text alone.
	for _, u := range []string{"https://[::1]/x", "https://169.254.169.254/x", "https://0.0.0.0/x", "https://[fe80::1%25eth0]/x", "https://224.0.0.1/x"} {
		if _, err := f.open(context.Background(), u); err == nil {
			t.Errorf("%s fetched", u)
		} else if _, ok := err.(*fetchInputError); !ok {
			t.Errorf("%s: %T %v, want an input error", u, err, err)
		}
	}
}

// The dialer's Control hook checks the address actually connected to, so
// whatever a resolver answered earlier (DNS rebinding), a connection to a
// forbidden address is never made.
func TestFetchControlHookRefusesTheRealAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	mustNo(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	strict := &Fetcher{}
	if c, err := (&net.Dialer{Control: strict.control}).Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the Control hook let a loopback connection through")
	}
	lax := &Fetcher{AllowLoopback: true}
	c, err := (&net.Dialer{Control: lax.control}).Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("with loopback allowed: %v", err)
	}
	c.Close()
}

// A download that breaks off answers 502 without the network error's
// details, and leaves the slot untouched.
func TestFetchBrokenDownload(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	data := makeBundle(t, priv, testBundle{version: 3})
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data[:len(data)/2])
		// Returning with fewer bytes than announced breaks the connection.
	}))
	defer srv.Close()
	a, log := fetchAgent(t, fb, pub, &Fetcher{AllowLoopback: true, RootCAs: tlsRoots(srv)})
	slotBefore := fileHash(t, fb.slotPath("b"))
	code, msg := fetchURL(t, a, srv.URL+"/b.bundle")
	if code != http.StatusBadGateway || !strings.Contains(msg, "broke off") || leaks(msg) || strings.Contains(msg, "EOF") {
		t.Fatalf("broken download: %d %q", code, msg)
	}
	if !strings.Contains(log.String(), "broke off") {
		t.Fatalf("log:\n%s", log)
	}
	if fileHash(t, fb.slotPath("b")) != slotBefore {
		t.Fatal("a broken download changed slot b")
	}
	fb.noReboot()
}
