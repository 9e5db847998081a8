package webui

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const (
	testPassword  = "correct horse battery"
	testSetupCode = "7K3M-Q9ZD-2HXA-F0RT"
)

var (
	testHashOnce sync.Once
	testHash     string
)

func adminHash(t *testing.T) string {
	testHashOnce.Do(func() {
		h, err := bcrypt.GenerateFromPassword([]byte(testPassword), MinBcryptCost)
		if err != nil {
			t.Fatal(err)
		}
		testHash = string(h)
	})
	return testHash
}

// testClock is a settable clock shared by the server and the fake.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type harness struct {
	t     *testing.T
	srv   *Server
	fb    *fakeBackend
	clock *testClock
}

func newHarness(t *testing.T, withPassword bool) *harness {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	fb := newFakeBackend(clock.now)
	if withPassword {
		fb.adminHash = adminHash(t)
	}
	srv, err := New(Options{Monitor: fb, Config: fb, Accounts: fb, Events: fb, System: fb,
		BcryptCost: MinBcryptCost, Now: clock.now, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, srv: srv, fb: fb, clock: clock}
}

func (h *harness) serve(req *http.Request) *httptest.ResponseRecorder {
	if req.RemoteAddr == "" || req.RemoteAddr == "192.0.2.1:1234" {
		req.RemoteAddr = "198.51.100.7:5555"
	}
	rec := httptest.NewRecorder()
	h.srv.ServeHTTP(rec, req)
	return rec
}

// client is a browser: a cookie jar of one session cookie and the last CSRF token seen.
type client struct {
	h      *harness
	cookie *http.Cookie
	csrf   string
	ip     string
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) send(req *http.Request) *httptest.ResponseRecorder {
	if c.cookie != nil {
		req.AddCookie(c.cookie)
	}
	if c.ip != "" {
		req.RemoteAddr = c.ip + ":4000"
	}
	rec := c.h.serve(req)
	for _, ck := range rec.Result().Cookies() {
		if ck.Name == sessionCookie {
			if ck.MaxAge < 0 {
				c.cookie = nil
			} else {
				c.cookie = ck
			}
		}
	}
	if m := csrfRe.FindStringSubmatch(rec.Body.String()); m != nil {
		c.csrf = m[1]
	}
	return rec
}

func (c *client) get(path string) *httptest.ResponseRecorder {
	return c.send(httptest.NewRequest("GET", path, nil))
}

func (c *client) post(path string, form url.Values) *httptest.ResponseRecorder {
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.send(req)
}

// postCSRF posts a form with the client's CSRF token.
func (c *client) postCSRF(path string, form url.Values) *httptest.ResponseRecorder {
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", c.csrf)
	return c.post(path, form)
}

// api sends an API request with the session cookie and the CSRF header.
func (c *client) api(method, path, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	return c.send(req)
}

func (h *harness) newClient() *client { return &client{h: h} }

// login returns a logged-in browser with a fresh CSRF token.
func (h *harness) login() *client {
	h.t.Helper()
	c := h.newClient()
	if rec := c.get("/login"); rec.Code != http.StatusOK {
		h.t.Fatalf("GET /login = %d", rec.Code)
	}
	rec := c.postCSRF("/login", url.Values{"password": {testPassword}})
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/" {
		h.t.Fatalf("login = %d %s", rec.Code, rec.Body)
	}
	if rec := c.get("/"); rec.Code != http.StatusOK {
		h.t.Fatalf("dashboard after login = %d", rec.Code)
	}
	return c
}

// concretePath fills a route pattern's wildcards with example values.
func concretePath(pattern string) (method, path string) {
	method, path, _ = strings.Cut(pattern, " ")
	path = strings.NewReplacer("{$}", "", "{key}", "10.77.0.23", "{n}", "1", "{id}", "tok1", "{file}", "style.css").Replace(path)
	return method, path
}
