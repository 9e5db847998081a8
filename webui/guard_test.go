package webui

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestEveryGuardedRouteRefusesStrangers(t *testing.T) {
	h := newHarness(t, true)
	for _, rt := range h.srv.routeTable() {
		if rt.kind == routeOpen {
			continue
		}
		method, path := concretePath(rt.pattern)
		t.Run(rt.pattern, func(t *testing.T) {
			before := h.fb.changed()
			rec := h.serve(httptest.NewRequest(method, path, strings.NewReader("x")))
			switch rt.kind {
			case routePage, routeForm:
				if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/login" {
					t.Fatalf("= %d %q, want 303 to /login", rec.Code, rec.Header().Get("Location"))
				}
			case routeAPI:
				var body map[string]string
				if rec.Code != http.StatusUnauthorized || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body["error"] == "" {
					t.Fatalf("= %d %s, want 401 with a JSON error", rec.Code, rec.Body)
				}
			}
			// A forged session cookie or API token is no better.
			req := httptest.NewRequest(method, path, nil)
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: "forged"})
			if rec := h.serve(req); rec.Code != http.StatusSeeOther && rec.Code != http.StatusUnauthorized {
				t.Fatalf("forged cookie = %d", rec.Code)
			}
			req = httptest.NewRequest(method, path, nil)
			req.Header.Set("Authorization", "Bearer rwt_forged")
			if rec := h.serve(req); rec.Code != http.StatusSeeOther && rec.Code != http.StatusUnauthorized {
				t.Fatalf("forged token = %d", rec.Code)
			}
			if h.fb.changed() != before {
				t.Fatal("an unauthenticated request changed state")
			}
		})
	}
}

func TestPagesSendToFirstRunWithoutPassword(t *testing.T) {
	h := newHarness(t, false)
	for _, rt := range h.srv.routeTable() {
		if rt.kind != routePage && rt.kind != routeForm {
			continue
		}
		method, path := concretePath(rt.pattern)
		rec := h.serve(httptest.NewRequest(method, path, nil))
		if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/setup" {
			t.Errorf("%s = %d %q, want 303 to /setup", rt.pattern, rec.Code, rec.Header().Get("Location"))
		}
	}
}

func TestEveryFormRefusesMissingOrWrongCSRF(t *testing.T) {
	h := newHarness(t, true)
	h.fb.addDemoSources()
	c := h.login()
	other := h.login()
	for _, rt := range h.srv.routeTable() {
		if rt.kind != routeForm {
			continue
		}
		_, path := concretePath(rt.pattern)
		t.Run(rt.pattern, func(t *testing.T) {
			before := h.fb.changed()
			for name, token := range map[string]string{"missing": "", "wrong": "not-the-token", "other session's": other.csrf} {
				form := map[string][]string{"rules": {"pass all"}, "key": {"10.77.0.23"}, "sure": {"yes"}, "name": {"x"}}
				if token != "" {
					form["csrf"] = []string{token}
				}
				rec := c.post(path, form)
				if rec.Code != http.StatusForbidden {
					t.Fatalf("%s token: = %d, want 403", name, rec.Code)
				}
			}
			if h.fb.changed() != before {
				t.Fatal("a form without a valid CSRF token changed state")
			}
		})
	}
	// The login form needs its token too.
	anon := h.newClient()
	anon.get("/login")
	if rec := anon.post("/login", map[string][]string{"password": {testPassword}}); rec.Code != http.StatusForbidden {
		t.Fatalf("login without CSRF = %d", rec.Code)
	}
}

func TestAPIUnsafeMethodsNeedCSRFHeaderWithCookie(t *testing.T) {
	h := newHarness(t, true)
	h.fb.addDemoSources()
	c := h.login()
	for _, rt := range h.srv.routeTable() {
		method, path := concretePath(rt.pattern)
		if rt.kind != routeAPI || method == "GET" {
			continue
		}
		before := h.fb.changed()
		req := httptest.NewRequest(method, path, strings.NewReader(`{"source":"10.0.0.1"}`))
		rec := c.send(req) // cookie, no header
		if rec.Code != http.StatusForbidden {
			t.Errorf("%s without X-CSRF-Token = %d, want 403", rt.pattern, rec.Code)
		}
		if h.fb.changed() != before {
			t.Errorf("%s changed state without CSRF", rt.pattern)
		}
	}
}
