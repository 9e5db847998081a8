package webui

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamRecorder is a ResponseWriter for a handler that keeps streaming
// while the test reads what it wrote so far.
type streamRecorder struct {
	mu     sync.Mutex
	header http.Header
	code   int
	body   bytes.Buffer
}

func newStreamRecorder() *streamRecorder { return &streamRecorder{header: http.Header{}} }

func (r *streamRecorder) Header() http.Header { return r.header }
func (r *streamRecorder) WriteHeader(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.code = code
}
func (r *streamRecorder) Write(b []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(b)
}
func (r *streamRecorder) Flush() {}
func (r *streamRecorder) count(s string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Count(r.body.String(), s)
}

// waitSubscribers waits until the live hub has n subscribers.
func waitSubscribers(t *testing.T, srv *Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		srv.live.mu.Lock()
		got := len(srv.live.subs)
		srv.live.mu.Unlock()
		if got == n {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("live stream subscribers never reached %d", n)
}

// An open dashboard streams ticks all the time; that must not keep its
// session alive, or a forgotten browser would stay logged in until the
// absolute limit.
func TestEventStreamDoesNotKeepSessionAlive(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req := httptest.NewRequest("GET", "/events/stream", nil).WithContext(ctx)
	req.AddCookie(c.cookie)
	rec := newStreamRecorder()
	done := make(chan struct{})
	go func() { h.srv.ServeHTTP(rec, req); close(done) }()
	waitSubscribers(t, h.srv, 1)

	step := 30 * time.Minute
	delivered := 0
	for elapsed := step; elapsed <= sessionIdle; elapsed += step {
		h.clock.advance(step)
		h.srv.live.broadcast(liveMsg{name: "tick", data: []byte(`{}`)})
		delivered++
		deadline := time.Now().Add(5 * time.Second)
		for rec.count("event: tick") < delivered {
			if time.Now().After(deadline) {
				t.Fatalf("tick %d not streamed while the session was live", delivered)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// Past sessionIdle since the admin last did anything: the next message
	// finds the session gone and the stream ends.
	h.clock.advance(step)
	h.srv.live.broadcast(liveMsg{name: "tick", data: []byte(`{}`)})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the idle session")
	}
	if n := rec.count("event: tick"); n != delivered {
		t.Fatalf("%d ticks streamed, want %d (none after the session went idle)", n, delivered)
	}
	if rec := c.get("/"); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
		t.Fatalf("after an idle time with only the stream open: GET / = %d %s, want a redirect to /login", rec.Code, rec.Header().Get("Location"))
	}
}

// The browser reconnecting its event stream is not the admin either.
func TestEventStreamReconnectDoesNotKeepSessionAlive(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	h.clock.advance(sessionIdle - 30*time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/events/stream", nil).WithContext(ctx)
	req.Header.Set("Accept", "text/event-stream") // as EventSource sends it
	req.AddCookie(c.cookie)
	rec := newStreamRecorder()
	done := make(chan struct{})
	go func() { h.srv.ServeHTTP(rec, req); close(done) }()
	waitSubscribers(t, h.srv, 1)
	cancel()
	<-done
	h.clock.advance(time.Hour)
	if rec := c.get("/"); rec.Code != http.StatusSeeOther {
		t.Fatalf("a reconnecting event stream kept the session alive: GET / = %d", rec.Code)
	}
}

// Changing the password logs out every other browser and, by default,
// revokes every API token, so nothing made with a leaked password
// outlives the change.
func TestPasswordChangeRevokesSessionsAndTokens(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	other := h.login()
	rec := c.get("/system")
	wantBody(t, rec, `name="revoke_tokens" value="yes" checked`)
	secret := ""
	for _, name := range []string{"ci", "prometheus"} {
		s, _, err := h.srv.createToken(httptest.NewRequest("POST", "/", nil), "admin", name)
		if err != nil {
			t.Fatal(err)
		}
		secret = s
	}
	bearer := func() int {
		req := httptest.NewRequest("GET", "/api/status", nil)
		req.Header.Set("Authorization", "Bearer "+secret)
		return h.serve(req).Code
	}
	if code := bearer(); code != http.StatusOK {
		t.Fatalf("token before the change: %d", code)
	}
	rec = c.postCSRF("/system/password", url.Values{"current": {testPassword}, "password": {"a new long password"},
		"password2": {"a new long password"}, "revoke_tokens": {"yes"}})
	wantCode(t, rec, http.StatusSeeOther)
	if len(h.fb.tokens) != 0 {
		t.Fatalf("%d tokens survived the password change", len(h.fb.tokens))
	}
	if code := bearer(); code != http.StatusUnauthorized {
		t.Fatalf("a revoked token still works: %d", code)
	}
	if rec := other.get("/"); rec.Code != http.StatusSeeOther {
		t.Fatal("another browser survived the password change")
	}
	rec = c.get("/system")
	wantCode(t, rec, http.StatusOK)
	wantBody(t, rec, "2 API tokens revoked")

	// Unticked, the tokens stay (the sessions still go).
	h.srv.createToken(httptest.NewRequest("POST", "/", nil), "admin", "kept")
	other = h.newClient()
	other.get("/login")
	wantCode(t, other.postCSRF("/login", url.Values{"password": {"a new long password"}}), http.StatusSeeOther)
	rec = c.postCSRF("/system/password", url.Values{"current": {"a new long password"}, "password": {"a third long password"},
		"password2": {"a third long password"}})
	wantCode(t, rec, http.StatusSeeOther)
	if len(h.fb.tokens) != 1 {
		t.Fatalf("%d tokens after a change that keeps them, want 1", len(h.fb.tokens))
	}
	if rec := other.get("/"); rec.Code != http.StatusSeeOther {
		t.Fatal("another browser survived the second password change")
	}
}
