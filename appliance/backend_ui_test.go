package appliance

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/webui"
)

// TestUIOverBackend drives the real UI over the real backend and store
// (only the dataplane is faked): first run, login, rules with a syntax
// error, rules applied with commit-confirm and confirmed, an API token,
// and a rollback through the API.
func TestUIOverBackend(t *testing.T) {
	h := newBackendHarness(t)
	ui, err := webui.New(webui.Options{Monitor: h.b, Config: h.b, Accounts: h.b, Events: h.b, System: h.b,
		BcryptCost: store.MinBcryptCost, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui)
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	csrfRe := regexp.MustCompile(`name="csrf" value="([^"]+)"`)
	var csrf string
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := c.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := csrfRe.FindSubmatch(b); m != nil {
			csrf = string(m[1])
		}
		return resp.StatusCode, string(b)
	}
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		form.Set("csrf", csrf)
		resp, err := c.PostForm(srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if m := csrfRe.FindSubmatch(b); m != nil {
			csrf = string(m[1])
		}
		return resp.StatusCode, string(b)
	}

	// First run: the dashboard sends the browser to the password form,
	// which takes the setup code the console shows.
	setupCode, _, err := h.store.SetupCode()
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get("/"); code != 200 || !strings.Contains(body, "choose the admin password") {
		t.Fatalf("first visit: %d", code)
	}
	if code, _ := post("/setup", url.Values{"setup_code": {"0000-0000-0000-0000"}, "password": {"a long admin password"}, "password2": {"a long admin password"}}); code != http.StatusUnauthorized {
		t.Fatalf("setup with a wrong code: %d", code)
	}
	if code, _ := post("/setup", url.Values{"setup_code": {setupCode}, "password": {"a long admin password"}, "password2": {"a long admin password"}}); code != 200 {
		t.Fatalf("setup: %d", code)
	}
	if creds, err := h.store.Credentials(); err != nil || creds.AdminHash == "" {
		t.Fatalf("no hash stored: %v", err)
	}
	if _, needed, _ := h.store.SetupCode(); needed {
		t.Fatal("the setup code is still wanted after the first run")
	}

	// Rules with an error: shown at its line, nothing changes.
	code, body := post("/rules", url.Values{"action": {"apply"}, "rules": {"set default pass\r\npass in proto tcp to port 22\r\n"}})
	if code != 400 || !strings.Contains(body, "Line 2, column") || !strings.Contains(body, `id="problem"`) {
		t.Fatalf("bad rules: %d %.300s", code, body)
	}
	rev := h.store.Current().N

	// Good rules with commit-confirm, then confirmed.
	if code, body = post("/rules", url.Values{"action": {"apply"}, "rules": {newRules}}); code != 200 || !strings.Contains(body, "Unconfirmed change") {
		t.Fatalf("apply: %d", code)
	}
	if h.dp.lastRules() != newRules || h.store.Current().N != rev {
		t.Fatal("apply did not run the rules, or stored them unconfirmed")
	}
	if code, _ = post("/rules/confirm", url.Values{}); code != 200 {
		t.Fatalf("confirm: %d", code)
	}
	if h.store.Current().Config.Rules != newRules || h.store.Current().Author != "admin" {
		t.Fatalf("confirmed rules not stored: %+v", h.store.Current().Info())
	}

	// An API token from the System page drives the API.
	_, body = post("/system/tokens", url.Values{"name": {"ci"}})
	token := regexp.MustCompile(`rwt_[A-Za-z0-9_-]+`).FindString(body)
	if token == "" {
		t.Fatal("no token shown")
	}
	api := func(method, path, body string) (int, map[string]any) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, m := api("POST", "/api/rules?confirm=30s", "pass in proto tcp from any to any port banana\n")
	if code != 400 || m["line"] != 1.0 || m["column"] == nil || m["error"] == "" {
		t.Fatalf("API bad rules: %d %v", code, m)
	}
	if code, _ = api("POST", "/api/revisions/1/rollback", ""); code != 200 {
		t.Fatalf("rollback: %d", code)
	}
	if h.dp.lastRules() != store.DefaultConfig().Rules {
		t.Fatal("rollback did not reach the dataplane")
	}
	if code, m = api("GET", "/api/config", ""); code != 200 || m["rules"] != store.DefaultConfig().Rules {
		t.Fatalf("config after rollback: %d %v", code, m["rules"])
	}
	// The audit log names who did what.
	entries, _ := h.b.Audit(t.Context(), 50)
	var actions []string
	for _, e := range entries {
		actions = append(actions, e.Actor+": "+e.Action)
	}
	joined := strings.Join(actions, "\n")
	for _, want := range []string{"token:ci: roll back to revision 1", "admin: rules changed", "admin: API token ci created"} {
		if !strings.Contains(joined, want) {
			t.Errorf("audit lacks %q:\n%s", want, joined)
		}
	}
}
