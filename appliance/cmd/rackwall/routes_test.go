package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/appliance"
	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/appliance/supervise"
	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/webui"
	"github.com/rackwall/rackwall/webui/securityheaders"
	"golang.org/x/crypto/bcrypt"
)

const (
	testToken    = "rwt_routes-test-token"
	testPassword = "a long admin password"
)

// newRoutesBox is an appliance with everything its HTTP routes use, on a
// state folder of the test and with no dataplane running (its control
// socket does not exist) and bridge ports that do not exist.
func newRoutesBox(t *testing.T, plainHTTP bool) *box {
	t.Helper()
	state := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, _, err := store.Open(state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(testToken))
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), webui.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateCredentials(func(c *store.Credentials) error {
		c.AdminHash = string(hash)
		c.Tokens = append(c.Tokens, store.APIToken{ID: "t1", Name: "ops", Hash: hex.EncodeToString(sum[:])})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := &box{f: flags{uplink: "rw-no-uplink", rack: "rw-no-rack", state: state, plainHTTP: plainHTTP},
		log: log, store: st, health: &healthState{}, child: &child{}}
	a.health.setConfig(true, nil)
	a.health.setUI(true)
	a.backend, err = appliance.NewBackend(appliance.BackendOptions{Store: st, Audit: store.NewAuditLog(state, nil),
		Dataplane: control.Dial(filepath.Join(state, "no-dataplane.sock")), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a.ui, err = webui.New(webui.Options{Monitor: a.backend, Config: a.backend, Accounts: a.backend, Events: a.backend,
		System: a.backend, TLS: !plainHTTP, BcryptCost: webui.MinBcryptCost, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	a.sup = supervise.New(supervise.Config{Log: log})
	a.links = &linkControl{log: log}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.links.open(ctx); err != nil {
		t.Skipf("no rtnetlink here: %v", err)
	}
	t.Cleanup(a.links.close)
	return a
}

// requestFor makes a request that reaches a ServeMux pattern: its method
// (GET for a pattern without one) and its path with the wildcards filled in.
func requestFor(pattern string) *http.Request {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	for strings.Contains(path, "{") {
		i := strings.Index(path, "{")
		j := strings.Index(path[i:], "}")
		path = path[:i] + "1" + path[i+j+1:]
	}
	return httptest.NewRequest(method, path, strings.NewReader(""))
}

// Every route the appliance serves — its own (/healthz, the dataplane
// restart, the update API and page) and every route of the UI — answers
// with the security headers, anonymous or with a token, and with HSTS
// whenever it is served over HTTPS. So does the HTTP-to-HTTPS redirect,
// without HSTS (a browser ignores it over plain HTTP).
func TestEveryApplianceRouteCarriesSecurityHeaders(t *testing.T) {
	for _, plain := range []bool{false, true} {
		a := newRoutesBox(t, plain)
		root, own := a.rootRoutes()
		for _, want := range []string{"GET /healthz", "POST /api/dataplane/restart", "/api/update", "/api/update/", "GET /system/update", "POST /system/update"} {
			if !contains(own, want) {
				t.Fatalf("the appliance's routes %q lack %q", own, want)
			}
		}
		patterns := append(append([]string{}, own...), a.ui.Patterns()...)
		patterns = append(patterns, "GET /api/update/status", "POST /api/update/fetch", "GET /no/such/page")
		for _, p := range patterns {
			for _, overTLS := range []bool{false, true} {
				for _, token := range []bool{false, true} {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond) // ends /events/stream
					req := requestFor(p).WithContext(ctx)
					if overTLS {
						req.TLS = &tls.ConnectionState{}
					}
					if token {
						req.Header.Set("Authorization", "Bearer "+testToken)
					}
					rec := httptest.NewRecorder()
					root.ServeHTTP(rec, req)
					cancel()
					if err := securityheaders.Check(rec.Header(), !plain || overTLS); err != nil {
						t.Errorf("%s → %s: %v", p, http.StatusText(rec.Code), err)
					}
				}
			}
		}
	}
	rec := httptest.NewRecorder()
	redirectServer("443").ServeHTTP(rec, httptest.NewRequest("GET", "/login", nil))
	if rec.Code != http.StatusMovedPermanently {
		t.Fatalf("redirect answered %d", rec.Code)
	}
	if err := securityheaders.Check(rec.Header(), false); err != nil {
		t.Errorf("the HTTPS redirect: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// /healthz tells anybody only healthy or unhealthy; the report is for an
// API token or a logged-in session.
func TestHealthzDetailsNeedAuthentication(t *testing.T) {
	a := newRoutesBox(t, true)
	healthy := true
	report := func() healthReport {
		r := healthReport{ConfigLoaded: true, Dataplane: "forwarding", UI: true,
			Ports: []portHealth{{Name: "eth1", Role: "uplink", Up: true}, {Name: "eth2", Role: "rack", Up: true}}}
		if !healthy {
			r.Dataplane, r.Reason = "bypass", "dataplane exited"
		}
		r.judge()
		return r
	}
	h := healthHandler(report, a.ui.Actor)
	get := func(auth string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/healthz", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		for _, c := range cookies {
			req.AddCookie(c)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}

	for _, c := range []struct {
		healthy bool
		code    int
		body    string
	}{{true, http.StatusOK, "healthy\n"}, {false, http.StatusServiceUnavailable, "unhealthy\n"}} {
		healthy = c.healthy
		rec := get("")
		if rec.Code != c.code || rec.Body.String() != c.body || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
			t.Errorf("anonymous, healthy %v: %d %q (%s), want %d %q", c.healthy, rec.Code, rec.Body, rec.Header().Get("Content-Type"), c.code, c.body)
		}
		rec = get("Bearer " + testToken)
		var rep healthReport
		if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != c.code || rep.Healthy != c.healthy || len(rep.Ports) != 2 {
			t.Errorf("with a token, healthy %v: %d %s (%v)", c.healthy, rec.Code, rec.Body, err)
		}
		if !c.healthy && rep.Reason != "dataplane exited" {
			t.Errorf("the token's report lacks the reason: %s", rec.Body)
		}
	}
	rec := get("Bearer rwt_not-a-token")
	if rec.Code != http.StatusUnauthorized || !strings.Contains(rec.Body.String(), "invalid API token") {
		t.Errorf("a wrong token: %d %s, want 401", rec.Code, rec.Body)
	}

	// A logged-in browser session sees the report as well.
	healthy = true
	srv := httptest.NewServer(a.rootHandler())
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	hc := &http.Client{Jar: jar}
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	resp, err := hc.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrf.FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on /login: %s", page)
	}
	resp, err = hc.PostForm(srv.URL+"/login", url.Values{"csrf": {string(m[1])}, "password": {testPassword}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK { // the redirect to the dashboard, followed
		t.Fatalf("login: %s", resp.Status)
	}
	u, _ := url.Parse(srv.URL)
	rec = get("", jar.Cookies(u)...)
	var rep healthReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil || rec.Code != http.StatusOK || !rep.Healthy {
		t.Fatalf("with a session: %d %s (%v)", rec.Code, rec.Body, err)
	}
}
