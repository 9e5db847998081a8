package webui

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
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
	wantBody(t, rec, "choose the admin password")
	wantBody(t, rec, `name="setup_code"`)
	good := func(pw string) url.Values {
		return url.Values{"setup_code": {testSetupCode}, "password": {pw}, "password2": {pw}}
	}
	// Bad input changes nothing.
	unchanged(t, h, func() {
		rec = c.postCSRF("/setup", url.Values{"setup_code": {testSetupCode}, "password": {"short"}, "password2": {"short"}})
		wantCode(t, rec, http.StatusBadRequest)
		wantBody(t, rec, "at least 10 characters")
		rec = c.postCSRF("/setup", url.Values{"setup_code": {testSetupCode}, "password": {"long enough one"}, "password2": {"long enough two"}})
		wantCode(t, rec, http.StatusBadRequest)
		wantBody(t, rec, "differ")
		rec = c.post("/setup", good("long enough one"))
		wantCode(t, rec, http.StatusForbidden)
	})
	rec = c.postCSRF("/setup", good("long enough one"))
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
		rec := other.postCSRF("/setup", good("attacker password"))
		wantCode(t, rec, http.StatusConflict)
	})
}

// Reaching the UI first is not enough to take a fresh box: without the
// code from the console the password cannot be chosen, however it is
// guessed, and guesses cost login attempts.
func TestFirstRunNeedsTheSetupCode(t *testing.T) {
	h := newHarness(t, false)
	c := h.newClient()
	c.get("/setup")
	unchanged(t, h, func() {
		for _, code := range []string{"", "7K3M-Q9ZD-2HXA-F0RS", "7K3M-Q9ZD", strings.ToLower(testSetupCode) + "x"} {
			rec := c.postCSRF("/setup", url.Values{"setup_code": {code}, "password": {"attacker password"}, "password2": {"attacker password"}})
			wantCode(t, rec, http.StatusUnauthorized)
			wantBody(t, rec, "Wrong setup code")
		}
		// The fifth wrong guess in the window is refused before it is checked.
		rec := c.postCSRF("/setup", url.Values{"setup_code": {"0000-0000-0000-0000"}, "password": {"attacker password"}, "password2": {"attacker password"}})
		wantCode(t, rec, http.StatusUnauthorized)
		rec = c.postCSRF("/setup", url.Values{"setup_code": {testSetupCode}, "password": {"attacker password"}, "password2": {"attacker password"}})
		wantCode(t, rec, http.StatusTooManyRequests)
	})
	if h.fb.adminHash != "" {
		t.Fatal("a password was set without the setup code")
	}
	var failures int
	for _, e := range h.fb.events {
		if e.Kind == EventLoginFailure {
			failures++
		}
	}
	if failures != 5 {
		t.Fatalf("%d login-failure events for 5 wrong codes", failures)
	}
	// The owner, from another address, with the code from the console.
	owner := h.newClient()
	owner.ip = "203.0.113.50"
	owner.get("/setup")
	wantCode(t, owner.postCSRF("/setup", url.Values{"setup_code": {testSetupCode}, "password": {"the owner's password"}, "password2": {"the owner's password"}}), http.StatusSeeOther)
	if h.fb.setupCode != "" {
		t.Fatal("the setup code outlived the first run")
	}
}

// Unreadable credentials lock the UI: no first run (which would hand the
// box to whoever comes first) and no login.
func TestUnreadableCredentialsLockTheUI(t *testing.T) {
	h := newHarness(t, false)
	h.fb.credsLocked = true
	c := h.newClient()
	for _, path := range []string{"/setup", "/login"} {
		rec := c.get(path)
		wantCode(t, rec, http.StatusServiceUnavailable)
		wantBody(t, rec, "credentials are unreadable; reset them on the console")
		if strings.Contains(rec.Body.String(), "<form") {
			t.Fatalf("%s offers a form while locked", path)
		}
	}
	if rec := c.get("/"); rec.Header().Get("Location") != "/login" {
		t.Fatalf("dashboard sends to %q, want /login", rec.Header().Get("Location"))
	}
	// A form posted with a CSRF token from before the lock gets nowhere.
	h.fb.credsLocked = false
	c.get("/setup")
	h.fb.credsLocked = true
	unchanged(t, h, func() {
		rec := c.postCSRF("/setup", url.Values{"setup_code": {testSetupCode}, "password": {"attacker password"}, "password2": {"attacker password"}})
		wantCode(t, rec, http.StatusServiceUnavailable)
		rec = c.postCSRF("/login", url.Values{"password": {testPassword}})
		wantCode(t, rec, http.StatusServiceUnavailable)
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

// A full limiter forgets the client it saw least recently; it never turns
// the owner away because others filled it.
func TestOwnerLogsInAfterManyAddressesFailed(t *testing.T) {
	h := newHarness(t, true)
	for i := 0; i < 5000; i++ {
		ip := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
		for j := 0; j < 5; j++ {
			if ok, _ := h.srv.limiter.allow(ip); !ok {
				t.Fatalf("%s refused at its attempt %d", ip, j+1)
			}
		}
	}
	if n := h.srv.limiter.len(); n > maxLimiterClients {
		t.Fatalf("%d clients tracked, at most %d", n, maxLimiterClients)
	}
	owner := h.newClient()
	owner.ip = "192.0.2.200"
	owner.get("/login")
	wantCode(t, owner.postCSRF("/login", url.Values{"password": {testPassword}}), http.StatusSeeOther)
	// The most recent failures are still remembered: eviction took the oldest.
	if ok, _ := h.srv.limiter.allow("10.0.19.135"); ok { // the 5,000th address
		t.Fatal("a recent client's failures were forgotten")
	}
}

func TestLimiterKeysIPv6By64(t *testing.T) {
	h := newHarness(t, true)
	login := func(ip, pw string) int {
		c := h.newClient()
		c.get("/login")
		req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"csrf": {c.csrf}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if c.cookie != nil {
			req.AddCookie(c.cookie)
		}
		req.RemoteAddr = "[" + ip + "]:4000"
		return h.serve(req).Code
	}
	// Five guesses from five addresses of one /64 use up that /64's budget.
	for i := 1; i <= 5; i++ {
		if code := login(fmt.Sprintf("2001:db8:1:2::%x", i), "guess"); code != http.StatusUnauthorized {
			t.Fatalf("guess %d = %d", i, code)
		}
	}
	if code := login("2001:db8:1:2:ffff::1", testPassword); code != http.StatusTooManyRequests {
		t.Fatalf("a sixth address of the same /64 = %d, want 429", code)
	}
	// The neighbouring /64 is another client.
	if code := login("2001:db8:1:3::1", testPassword); code != http.StatusSeeOther {
		t.Fatalf("another /64 = %d", code)
	}
	for ip, want := range map[string]string{
		"[2001:db8:1:2:aaaa::1]:1": "2001:db8:1:2::/64",
		"[::ffff:192.0.2.9]:1":     "192.0.2.9",
		"192.0.2.9:1":              "192.0.2.9",
		"[fe80::1%eth0]:1":         "fe80::/64",
	} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RemoteAddr = ip
		if got := limiterKey(req); got != want {
			t.Errorf("limiterKey(%s) = %s, want %s", ip, got, want)
		}
	}
}

// At most maxConcurrentHashes bcrypt computations run at once; the rest
// wait briefly and are then told to come back (503), not queued forever.
func TestBcryptWorkIsBounded(t *testing.T) {
	h := newHarness(t, true)
	h.srv.hashSlots = newHashSlots(maxConcurrentHashes, 50*time.Millisecond)
	var (
		mu            sync.Mutex
		running, peak int
	)
	release := make(chan struct{})
	entered := make(chan struct{}, 16)
	h.srv.compareHash = func(hash, pw []byte) error {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		entered <- struct{}{}
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return bcrypt.CompareHashAndPassword(hash, pw)
	}
	const n = 8
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		c := h.newClient()
		c.ip = fmt.Sprintf("203.0.113.%d", i+1)
		c.get("/login")
		go func() { codes <- c.postCSRF("/login", url.Values{"password": {testPassword}}).Code }()
	}
	for i := 0; i < maxConcurrentHashes; i++ {
		<-entered
	}
	// Everyone else gives up while the slots are held.
	for i := 0; i < n-maxConcurrentHashes; i++ {
		select {
		case code := <-codes:
			if code != http.StatusServiceUnavailable {
				t.Fatalf("a login beyond the bound answered %d, want 503", code)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("logins beyond the bound did not give up")
		}
	}
	close(release)
	for i := 0; i < maxConcurrentHashes; i++ {
		if code := <-codes; code != http.StatusSeeOther {
			t.Fatalf("a login holding a slot answered %d", code)
		}
	}
	if peak != maxConcurrentHashes {
		t.Fatalf("%d bcrypt computations ran at once, want %d", peak, maxConcurrentHashes)
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
