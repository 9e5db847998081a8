package webui

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestFirstRunSetsPasswordOnce(t *testing.T) {
	h := newHarness(t, false)
	c := h.newClient()
	if rec := c.get("/login"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/setup" {
		t.Fatalf("login before setup = %d %s", rec.Code, rec.Header().Get("Location"))
	}
	rec := c.get("/setup")
	wantCode(t, rec, http.StatusOK)
	wantBody(t, rec, "Choose the admin password")
	// Bad input changes nothing.
	unchanged(t, h, func() {
		rec = c.postCSRF("/setup", url.Values{"password": {"short"}, "password2": {"short"}})
		wantCode(t, rec, http.StatusBadRequest)
		wantBody(t, rec, "at least 10 characters")
		rec = c.postCSRF("/setup", url.Values{"password": {"long enough one"}, "password2": {"long enough two"}})
		wantCode(t, rec, http.StatusBadRequest)
		wantBody(t, rec, "differ")
		rec = c.post("/setup", url.Values{"password": {"long enough one"}, "password2": {"long enough one"}})
		wantCode(t, rec, http.StatusForbidden)
	})
	rec = c.postCSRF("/setup", url.Values{"password": {"long enough one"}, "password2": {"long enough one"}})
	wantCode(t, rec, http.StatusSeeOther)
	if cost, err := bcrypt.Cost([]byte(h.fb.adminHash)); err != nil || cost < MinBcryptCost {
		t.Fatalf("stored hash cost %d, %v", cost, err)
	}
	if bcrypt.CompareHashAndPassword([]byte(h.fb.adminHash), []byte("long enough one")) != nil {
		t.Fatal("stored hash does not match")
	}
	wantCode(t, c.get("/"), http.StatusOK) // logged in by the setup
	// The first-run page is gone now, for everyone.
	other := h.newClient()
	if rec := other.get("/setup"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("setup after setup = %d", rec.Code)
	}
	other.get("/login")
	unchanged(t, h, func() {
		rec := other.postCSRF("/setup", url.Values{"password": {"attacker password"}, "password2": {"attacker password"}})
		wantCode(t, rec, http.StatusConflict)
	})
}

func TestPresetHashMeansNoFirstRun(t *testing.T) {
	h := newHarness(t, true)
	if rec := h.newClient().get("/setup"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("= %d %s", rec.Code, rec.Header().Get("Location"))
	}
	if rec := h.newClient().get("/"); rec.Header().Get("Location") != "/login" {
		t.Fatalf("dashboard sends to %s", rec.Header().Get("Location"))
	}
}

func TestLoginFailureIsReportedAndRateLimited(t *testing.T) {
	h := newHarness(t, true)
	c := h.newClient()
	c.get("/login")
	for i := 0; i < 5; i++ {
		rec := c.postCSRF("/login", url.Values{"password": {"guess"}})
		wantCode(t, rec, http.StatusUnauthorized)
		wantBody(t, rec, "Wrong password")
	}
	if len(h.fb.events) != 5 || h.fb.events[0].Kind != EventLoginFailure || h.fb.events[0].Source != "198.51.100.7" {
		t.Fatalf("events %+v", h.fb.events)
	}
	// The sixth attempt in the minute is refused even with the right password.
	rec := c.postCSRF("/login", url.Values{"password": {testPassword}})
	wantCode(t, rec, http.StatusTooManyRequests)
	if rec.Header().Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Another client IP is not affected.
	other := h.newClient()
	other.ip = "203.0.113.9"
	other.get("/login")
	wantCode(t, other.postCSRF("/login", url.Values{"password": {testPassword}}), http.StatusSeeOther)
	// After the window the first client may try again.
	h.clock.advance(61 * time.Second)
	wantCode(t, c.postCSRF("/login", url.Values{"password": {testPassword}}), http.StatusSeeOther)
}

func TestSessionCookieAttributesAndExpiry(t *testing.T) {
	h := newHarness(t, true)
	c := h.newClient()
	c.get("/login")
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"csrf": {c.csrf}, "password": {testPassword}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.TLS = &tls.ConnectionState{}
	rec := c.send(req)
	var ck *http.Cookie
	for _, k := range rec.Result().Cookies() {
		if k.Name == sessionCookie {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.MaxAge <= 0 || ck.Expires.IsZero() {
		t.Fatalf("cookie %+v", ck)
	}
	if rec.Header().Get("Strict-Transport-Security") == "" {
		t.Fatal("no HSTS over TLS")
	}
	// Plain HTTP (when configured) cannot set Secure cookies.
	plain := h.newClient()
	plain.get("/login")
	if plain.cookie.Secure {
		t.Fatal("Secure cookie over plain HTTP")
	}
	// The session id changed at login (no fixation).
	if ck.Value == plain.cookie.Value {
		t.Fatal("session reused")
	}
	wantCode(t, c.get("/"), http.StatusOK)
	h.clock.advance(sessionIdle + time.Minute)
	if rec := c.get("/"); rec.Code != http.StatusSeeOther {
		t.Fatalf("idle session still valid: %d", rec.Code)
	}
}

func TestSessionAbsoluteExpiry(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	for i := 0; i < int(sessionTTL/time.Hour); i++ {
		h.clock.advance(time.Hour)
		c.get("/live")
	}
	if rec := c.get("/"); rec.Code != http.StatusSeeOther {
		t.Fatalf("session older than %v still valid", sessionTTL)
	}
}

func TestSessionTableIsBounded(t *testing.T) {
	h := newHarness(t, true)
	keep := h.login()
	for i := 0; i < maxSessions+100; i++ {
		h.newClient().get("/login")
	}
	h.srv.sessions.mu.Lock()
	n := len(h.srv.sessions.m)
	h.srv.sessions.mu.Unlock()
	if n > maxSessions {
		t.Fatalf("%d sessions", n)
	}
	// Anonymous sessions went first; the logged-in one survives.
	wantCode(t, keep.get("/"), http.StatusOK)
}

func TestLoginLimiterIsBounded(t *testing.T) {
	h := newHarness(t, true)
	for i := 0; i < maxLimiterIPs+10; i++ {
		h.srv.limiter.allow("10.0." + itoa(i/256) + "." + itoa(i%256))
	}
	if len(h.srv.limiter.m) > maxLimiterIPs {
		t.Fatalf("%d IPs tracked", len(h.srv.limiter.m))
	}
	h.clock.advance(2 * time.Minute)
	if ok, _ := h.srv.limiter.allow("192.0.2.1"); !ok {
		t.Fatal("stale entries were not pruned")
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t, true)
	rec := h.newClient().get("/login")
	for _, k := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
		if rec.Header().Get(k) == "" {
			t.Errorf("no %s", k)
		}
	}
	if !strings.Contains(rec.Header().Get("Content-Security-Policy"), "script-src 'self'") {
		t.Error("CSP allows foreign scripts")
	}
}

func TestStaticFiles(t *testing.T) {
	h := newHarness(t, true)
	c := h.newClient()
	for file, ctype := range map[string]string{"style.css": "text/css", "live.js": "text/javascript"} {
		rec := c.get("/static/" + file)
		wantCode(t, rec, http.StatusOK)
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), ctype) || rec.Body.Len() < 100 {
			t.Errorf("%s: %s, %d bytes", file, rec.Header().Get("Content-Type"), rec.Body.Len())
		}
	}
	wantCode(t, c.get("/static/nope.js"), http.StatusNotFound)
	wantCode(t, c.get("/static/..%2fserver.go"), http.StatusNotFound)
}

func TestNewRequiresEverything(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("New accepted empty options")
	}
	fb := newFakeBackend(time.Now)
	if _, err := New(Options{Monitor: fb, Config: fb, Accounts: fb, Events: fb, System: fb, BcryptCost: 4}); err == nil {
		t.Fatal("New accepted bcrypt cost 4")
	}
}
