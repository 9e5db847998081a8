package webui

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/webui/securityheaders"
)

// routeCase exercises one route as an authenticated user: the good request
// and, where the route takes input, a bad one that must change nothing.
type routeCase struct {
	good func(t *testing.T, h *harness, c *client)
	bad  func(t *testing.T, h *harness, c *client)
}

func wantCode(t *testing.T, rec *httptest.ResponseRecorder, code int) {
	t.Helper()
	if rec.Code != code {
		t.Fatalf("status %d, want %d; body: %.600s", rec.Code, code, rec.Body.String())
	}
}

func wantBody(t *testing.T, rec *httptest.ResponseRecorder, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(rec.Body.String(), p) {
			t.Fatalf("body lacks %q: %.1500s", p, rec.Body.String())
		}
	}
}

// unchanged runs f and fails if it changed the backend.
func unchanged(t *testing.T, h *harness, f func()) {
	t.Helper()
	before := h.fb.changed()
	f()
	if h.fb.changed() != before {
		t.Fatal("a refused request changed state")
	}
}

func wantJSONError(t *testing.T, rec *httptest.ResponseRecorder, code int, msgPart string) map[string]any {
	t.Helper()
	wantCode(t, rec, code)
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("not JSON: %s", rec.Body)
	}
	if msg, _ := m["error"].(string); !strings.Contains(msg, msgPart) {
		t.Fatalf("error %q lacks %q", msg, msgPart)
	}
	return m
}

var routeCases = map[string]routeCase{
	"POST /logout": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.postCSRF("/logout", nil)
		wantCode(t, rec, http.StatusSeeOther)
		if rec := c.get("/"); rec.Code != http.StatusSeeOther {
			t.Fatalf("still logged in after logout: %d", rec.Code)
		}
	}},
	"GET /{$}": {good: func(t *testing.T, h *harness, c *client) {
		h.srv.sample(context.Background())
		h.clock.advance(5 * time.Second)
		h.fb.status.Drops[reason.FragOverlap] += 500
		h.fb.status.Ports[0].RxFrames += 5000
		h.srv.sample(context.Background())
		rec := c.get("/")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "eth1", "uplink", "10 Gbit/s", "1.0k/s", "frag_overlap", "<polyline", "10.77.0.23", "Release", "v0.4.2", "slot A", "/static/live.js")
	}},
	"GET /live": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/live")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "Ports", "10.77.0.23")
		if strings.Contains(rec.Body.String(), "<html") {
			t.Fatal("the live fragment is a whole page")
		}
	}},
	"GET /events/stream": {good: func(t *testing.T, h *harness, c *client) {
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest("GET", "/events/stream", nil).WithContext(ctx)
		req.AddCookie(c.cookie)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { h.srv.ServeHTTP(rec, req); close(done) }()
		// Wait for the subscription, then send an event through the hub.
		for i := 0; i < 200; i++ {
			h.srv.live.mu.Lock()
			n := len(h.srv.live.subs)
			h.srv.live.mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		h.srv.recordEvent(Event{Time: h.clock.now(), Kind: EventQuarantine, Source: "10.0.0.9", Message: "10.0.0.9 quarantined"})
		time.Sleep(50 * time.Millisecond)
		cancel()
		<-done
		if rec.Header().Get("Content-Type") != "text/event-stream" {
			t.Fatalf("content type %q", rec.Header().Get("Content-Type"))
		}
		wantBody(t, rec, "event: event\ndata: {", "10.0.0.9 quarantined")
	}},
	"GET /rules": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/rules")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "<textarea", "pass in proto tcp from any to any port 22", "60 s to confirm")
	}},
	"POST /rules": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.postCSRF("/rules", url.Values{"action": {"check"}, "rules": {"set default pass\r\nblock in from 10.0.0.0/8\r\n"}})
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, "The rules are valid", `class="line add"`, "<span class=\"op\">+</span>block in from 10.0.0.0/8", `class="line del"`)
			if h.fb.pending != nil {
				t.Fatal("check applied the rules")
			}
			rec = c.postCSRF("/rules", url.Values{"action": {"apply"}, "rules": {"block all\n"}})
			wantCode(t, rec, http.StatusSeeOther)
			if h.fb.pending == nil || h.fb.pending.Rules != "block all\n" || !h.fb.pending.Deadline.Equal(h.clock.now().Add(60*time.Second)) {
				t.Fatalf("pending = %+v", h.fb.pending)
			}
			rec = c.get("/rules")
			wantBody(t, rec, "Unconfirmed change", "Confirm them within 60 seconds")
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				for _, action := range []string{"check", "apply"} {
					rec := c.postCSRF("/rules", url.Values{"action": {action}, "rules": {"pass all\n  frobnicate now\n"}})
					wantCode(t, rec, http.StatusBadRequest)
					wantBody(t, rec, "Line 2, column 3", "unknown statement", `id="problem" class="line bad"`, "frobnicate now", "  ^ here")
				}
				rec := c.postCSRF("/rules", url.Values{"action": {"explode"}, "rules": {"pass all"}})
				wantCode(t, rec, http.StatusBadRequest)
			})
		},
	},
	"POST /rules/confirm": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", time.Minute)
			wantCode(t, c.postCSRF("/rules/confirm", nil), http.StatusSeeOther)
			if h.fb.pending != nil || h.fb.cfg.Rules != "block all\n" {
				t.Fatal("not confirmed")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				rec := c.postCSRF("/rules/confirm", nil)
				wantCode(t, rec, http.StatusConflict)
				wantBody(t, rec, "no change is waiting")
			})
		},
	},
	"POST /rules/revert": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", time.Minute)
			wantCode(t, c.postCSRF("/rules/revert", nil), http.StatusSeeOther)
			if h.fb.pending != nil || h.fb.cfg.Rules == "block all\n" {
				t.Fatal("not reverted")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantCode(t, c.postCSRF("/rules/revert", nil), http.StatusConflict) })
		},
	},
	"GET /policy": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/policy")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "max_fragments", "2 to 8192", "most fragments per datagram", `<option value="no-source-route" selected>`)
	}},
	"POST /policy": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.postCSRF("/policy", url.Values{"max_fragments": {"64"}, "ip_options": {"drop"}})
			wantCode(t, rec, http.StatusSeeOther)
			if h.fb.pending == nil || h.fb.pending.Policy != "max_fragments: 64\nip_options: drop\n" {
				t.Fatalf("pending = %+v", h.fb.pending)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				rec := c.postCSRF("/policy", url.Values{"max_fragments": {"lots"}, "ip_options": {"drop"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "max_fragments: &#34;lots&#34; is not a number", `class="badrow"`, `value="lots"`)
				rec = c.postCSRF("/policy", url.Values{"max_fragments": {"64\nip_options: allow"}, "ip_options": {"drop"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "one line")
				rec = c.postCSRF("/policy", url.Values{"ip_options": {"drop"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "max_fragments: missing")
			})
		},
	},
	"GET /hosts": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/hosts")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "10.77.0.23", "2001:db8:77::/64", `href="/hosts/2001:db8:77::"`, `href="/hosts/mac-02:42:ac:11:00:07"`, "frag_overlap (F4)")
	}},
	"GET /hosts/{key}": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.get("/hosts/10.77.0.23")
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, "Source 10.77.0.23", "frag_overlap", "800,000", "threshold (2000 violations in 10s)", "Release",
				"/capture.pcapng?reason=frag_overlap&amp;source=10.77.0.23")
			wantCode(t, c.get("/hosts/2001:db8:77::"), http.StatusOK)
			wantCode(t, c.get("/hosts/mac-02:42:ac:11:00:07"), http.StatusOK)
		},
		bad: func(t *testing.T, h *harness, c *client) {
			rec := c.get("/hosts/not-an-address")
			wantCode(t, rec, http.StatusBadRequest)
			wantBody(t, rec, "want an IPv4 address")
			wantCode(t, c.get("/hosts/192.0.2.99"), http.StatusNotFound)
		},
	},
	"POST /hosts/quarantine": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.postCSRF("/hosts/quarantine", url.Values{"key": {"2001:db8:77::5"}, "duration": {"2h"}})
			wantCode(t, rec, http.StatusSeeOther)
			q, ok := h.fb.quarantine["2001:db8:77::/64"]
			if !ok || q.Until.Sub(q.Since) != 2*time.Hour {
				t.Fatalf("quarantine = %+v", h.fb.quarantine)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				for in, msg := range map[[2]string]string{
					{"banana", "10m"}:    "want an IPv4 address",
					{"10.0.0.0/8", "1h"}: "one IPv4 address or one IPv6 /64",
					{"10.0.0.1", "soon"}: "is not a duration",
					{"10.0.0.1", "30s"}:  "outside 1m to 168h",
				} {
					rec := c.postCSRF("/hosts/quarantine", url.Values{"key": {in[0]}, "duration": {in[1]}})
					wantCode(t, rec, http.StatusBadRequest)
					wantBody(t, rec, msg)
				}
			})
		},
	},
	"POST /hosts/{key}/release": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.postCSRF("/hosts/10.77.0.23/release", nil), http.StatusSeeOther)
			if _, ok := h.fb.quarantine["10.77.0.23"]; ok {
				t.Fatal("not released")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantCode(t, c.postCSRF("/hosts/10.9.9.9/release", nil), http.StatusNotFound)
				wantCode(t, c.postCSRF("/hosts/nonsense/release", nil), http.StatusBadRequest)
			})
		},
	},
	"GET /capture.pcapng": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.get("/capture.pcapng?reason=frag_overlap&source=10.77.0.23")
			wantCode(t, rec, http.StatusOK)
			if rec.Header().Get("Content-Type") != "application/x-pcapng" || !strings.Contains(rec.Header().Get("Content-Disposition"), "rackwall-drops-frag_overlap-10.77.0.23.pcapng") {
				t.Fatalf("headers %v", rec.Header())
			}
			if !bytes.Equal(rec.Body.Bytes(), h.fb.capture) {
				t.Fatal("capture bytes not streamed")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			rec := c.get("/capture.pcapng?reason=no_such_reason")
			wantCode(t, rec, http.StatusBadRequest)
			wantBody(t, rec, "unknown reason")
			wantCode(t, c.get("/capture.pcapng?source=x"), http.StatusBadRequest)
			h.fb.captureErr = errors.New("dataplane unreachable")
			rec = c.get("/capture.pcapng")
			wantCode(t, rec, http.StatusInternalServerError)
			wantBody(t, rec, "dataplane unreachable")
			h.fb.captureErr = nil
		},
	},
	"GET /system": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/system")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "Config revisions", "initial configuration", "Audit log", "API tokens", "Reboot", `name="bridge_mtu"`,
			`href="/system/update"`)
	}},
	"GET /system/diff": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", 0)
			rec := c.get("/system/diff?a=1&b=2")
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, "<span class=\"op\">+</span>block all", "<span class=\"op\">-</span>set default pass", "Policy", "No changes.")
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.get("/system/diff?a=x&b=1"), http.StatusBadRequest)
			wantCode(t, c.get("/system/diff?a=1&b=99"), http.StatusNotFound)
		},
	},
	"GET /system/export": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/system/export")
		wantCode(t, rec, http.StatusOK)
		if !strings.Contains(rec.Header().Get("Content-Disposition"), "rackwall-config-r1.json") {
			t.Fatalf("disposition %q", rec.Header().Get("Content-Disposition"))
		}
		wantBody(t, rec, `"format":"test"`)
	}},
	"POST /system/settings": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.postCSRF("/system/settings", url.Values{"syslog": {"192.0.2.50:514"}, "confirm_seconds": {"90"}, "listen_https": {":443"},
				"mgmt_mode": {"dhcp"}, "mgmt_dns": {"192.0.2.53, 192.0.2.54"}, "bridge_mtu": {"9000"}, "fail_mode": {"closed"},
				"update_channel": {" https://updates.example.net/stable.index "}, "update_interval": {"12h"}, "update_mode": {"notify"}})
			wantCode(t, rec, http.StatusSeeOther)
			s := h.fb.cfg.Settings
			if s.Syslog != "192.0.2.50:514" || s.ConfirmSeconds != 90 || s.BridgeMTU != 9000 || s.FailMode != "closed" || len(s.MgmtDNS) != 2 ||
				s.UpdateChannel != "https://updates.example.net/stable.index" || s.UpdateInterval != "12h" || s.UpdateMode != "notify" {
				t.Fatalf("settings %+v", s)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				rec := c.postCSRF("/system/settings", url.Values{"confirm_seconds": {"sixty"}, "bridge_mtu": {"1500"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "confirm_seconds: not a whole number")
				rec = c.postCSRF("/system/settings", url.Values{"confirm_seconds": {"60"}, "bridge_mtu": {"20"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "bridge_mtu: 20 is outside")
			})
		},
	},
	"POST /system/password": {
		good: func(t *testing.T, h *harness, c *client) {
			other := h.login()
			rec := c.postCSRF("/system/password", url.Values{"current": {testPassword}, "password": {"a new long password"}, "password2": {"a new long password"}})
			wantCode(t, rec, http.StatusSeeOther)
			if h.fb.adminHash == adminHash(t) {
				t.Fatal("hash not changed")
			}
			if rec := other.get("/"); rec.Code != http.StatusSeeOther {
				t.Fatal("another session survived the password change")
			}
			if rec := c.get("/system"); rec.Code != http.StatusOK {
				t.Fatalf("the changing session was logged out: %d", rec.Code)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				rec := c.postCSRF("/system/password", url.Values{"current": {"wrong"}, "password": {"a new long password"}, "password2": {"a new long password"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "current password is wrong")
				rec = c.postCSRF("/system/password", url.Values{"current": {testPassword}, "password": {"short"}, "password2": {"short"}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "at least 10 characters")
			})
		},
	},
	"POST /system/tokens": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.postCSRF("/system/tokens", url.Values{"name": {"prometheus"}})
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, "shown only now", tokenPrefix)
			if len(h.fb.tokens) != 1 || h.fb.tokens[0].Name != "prometheus" || len(h.fb.tokens[0].Hash) != 64 {
				t.Fatalf("tokens %+v", h.fb.tokens)
			}
			if strings.Contains(rec.Body.String(), h.fb.tokens[0].Hash) {
				t.Fatal("the page shows the token hash")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				rec := c.postCSRF("/system/tokens", url.Values{"name": {""}})
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "1 to 64 characters")
			})
		},
	},
	"POST /system/tokens/{id}/delete": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.tokens = []APIToken{{ID: "tok1", Name: "x", Hash: strings.Repeat("a", 64)}}
			wantCode(t, c.postCSRF("/system/tokens/tok1/delete", nil), http.StatusSeeOther)
			if len(h.fb.tokens) != 0 {
				t.Fatal("not deleted")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantCode(t, c.postCSRF("/system/tokens/nope/delete", nil), http.StatusNotFound) })
		},
	},
	"POST /system/revisions/{n}/rollback": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", 0)
			wantCode(t, c.postCSRF("/system/revisions/1/rollback", nil), http.StatusSeeOther)
			if h.fb.cfg.Revision != 3 || h.fb.cfg.Rules != h.fb.revisions[0].Rules {
				t.Fatalf("after rollback: %+v", h.fb.cfg)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantCode(t, c.postCSRF("/system/revisions/77/rollback", nil), http.StatusNotFound)
				wantCode(t, c.postCSRF("/system/revisions/zero/rollback", nil), http.StatusBadRequest)
			})
		},
	},
	"POST /system/import": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.postMultipart("/system/import", `{"format":"test","rules":"block all\n"}`)
			wantCode(t, rec, http.StatusSeeOther)
			if h.fb.cfg.Rules != "block all\n" {
				t.Fatalf("rules %q", h.fb.cfg.Rules)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				rec := c.postMultipart("/system/import", `{"format":"test","rules":"frob\n"}`)
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "import refused, nothing was changed", "unknown statement")
				rec = c.postMultipart("/system/import", `garbage`)
				wantCode(t, rec, http.StatusBadRequest)
				wantBody(t, rec, "not a config export")
			})
		},
	},
	"POST /system/reboot": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.postCSRF("/system/reboot", url.Values{"sure": {"yes"}}), http.StatusAccepted)
			if len(h.fb.reboots) != 1 || h.fb.reboots[0] != "admin" {
				t.Fatalf("reboots %v", h.fb.reboots)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantCode(t, c.postCSRF("/system/reboot", nil), http.StatusBadRequest) })
		},
	},
	"GET /metrics": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/metrics")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "rackwall_ui_login_attempts_total{result=\"success\"} 1", "go_goroutines", "process_")
	}},
	"GET /api/status": {good: func(t *testing.T, h *harness, c *client) {
		h.fb.status.Drops[reason.FragOverlap] = 42
		var st struct {
			Version string            `json:"version"`
			Drops   map[string]uint64 `json:"drops"`
			Ports   []Port            `json:"ports"`
		}
		rec := c.get("/api/status")
		wantCode(t, rec, http.StatusOK)
		json.Unmarshal(rec.Body.Bytes(), &st)
		if st.Version != "v0.4.2" || st.Drops["frag_overlap"] != 42 || len(st.Ports) != 3 {
			t.Fatalf("status %+v", st)
		}
	}},
	"GET /api/config": {good: func(t *testing.T, h *harness, c *client) {
		var cfg ConfigView
		rec := c.get("/api/config")
		wantCode(t, rec, http.StatusOK)
		json.Unmarshal(rec.Body.Bytes(), &cfg)
		if cfg.Revision != 1 || !strings.Contains(cfg.Rules, "port 22") || cfg.Settings.ConfirmSeconds != 60 {
			t.Fatalf("config %+v", cfg)
		}
	}},
	"GET /api/knobs": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/api/knobs")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, `"name": "max_fragments"`, `"range": "2 to 8192"`)
	}},
	"GET /api/sources": {
		good: func(t *testing.T, h *harness, c *client) {
			var top []SourceSummary
			rec := c.get("/api/sources?limit=2")
			wantCode(t, rec, http.StatusOK)
			json.Unmarshal(rec.Body.Bytes(), &top)
			if len(top) != 2 || top[0].Key != "10.77.0.23" {
				t.Fatalf("top %+v", top)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantJSONError(t, c.get("/api/sources?limit=-3"), http.StatusBadRequest, "limit")
		},
	},
	"GET /api/sources/{key}": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.get("/api/sources/10.77.0.23")
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, `"frag_overlap": 800000`, `"quarantine_history"`)
			wantCode(t, c.get("/api/sources/"+url.PathEscape("2001:db8:77::/64")), http.StatusOK)
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantJSONError(t, c.get("/api/sources/zzz"), http.StatusBadRequest, "source")
			wantJSONError(t, c.get("/api/sources/192.0.2.99"), http.StatusNotFound, "not found")
		},
	},
	"POST /api/rules": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.api("POST", "/api/rules", "block all\n")
			wantCode(t, rec, http.StatusOK)
			if h.fb.cfg.Rules != "block all\n" || h.fb.pending != nil {
				t.Fatal("rules not stored at once without ?confirm")
			}
			rec = c.api("POST", "/api/rules?confirm=30s", "pass all\n")
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, `"pending"`)
			if h.fb.pending == nil || !h.fb.pending.Deadline.Equal(h.clock.now().Add(30*time.Second)) {
				t.Fatalf("pending %+v", h.fb.pending)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				m := wantJSONError(t, c.api("POST", "/api/rules", "pass all\nblock in\n   bogus here\n"), http.StatusBadRequest, "unknown statement")
				if m["line"] != 3.0 || m["column"] != 4.0 {
					t.Fatalf("position %v:%v", m["line"], m["column"])
				}
				wantJSONError(t, c.api("POST", "/api/rules?confirm=soon", "pass all\n"), http.StatusBadRequest, "confirm")
				wantJSONError(t, c.api("POST", "/api/rules?confirm=1s", "pass all\n"), http.StatusBadRequest, "between 10s and 1h")
				wantJSONError(t, c.api("POST", "/api/rules", strings.Repeat("#", maxBodyBytes+1)), http.StatusBadRequest, "too large")
			})
		},
	},
	"POST /api/rules/check": {
		good: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantCode(t, c.api("POST", "/api/rules/check", "pass all\n"), http.StatusOK) })
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantJSONError(t, c.api("POST", "/api/rules/check", "nope\n"), http.StatusBadRequest, "unknown statement")
		},
	},
	"POST /api/rules/confirm": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", time.Minute)
			wantCode(t, c.api("POST", "/api/rules/confirm", ""), http.StatusOK)
			if h.fb.cfg.Rules != "block all\n" {
				t.Fatal("not confirmed")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantJSONError(t, c.api("POST", "/api/rules/confirm", ""), http.StatusConflict, "no change") })
		},
	},
	"POST /api/rules/revert": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", time.Minute)
			wantCode(t, c.api("POST", "/api/rules/revert", ""), http.StatusOK)
			if h.fb.pending != nil {
				t.Fatal("not reverted")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantJSONError(t, c.api("POST", "/api/rules/revert", ""), http.StatusConflict, "no change") })
		},
	},
	"POST /api/policy": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.api("POST", "/api/policy?confirm=60", "max_fragments: 32\n"), http.StatusOK)
			if h.fb.pending == nil || h.fb.pending.Policy != "max_fragments: 32\n" {
				t.Fatalf("pending %+v", h.fb.pending)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				m := wantJSONError(t, c.api("POST", "/api/policy", "max_fragments: x\n"), http.StatusBadRequest, "not a number")
				if m["line"] != 1.0 || m["column"] != 16.0 {
					t.Fatalf("position %v:%v", m["line"], m["column"])
				}
			})
		},
	},
	"PUT /api/settings": {
		good: func(t *testing.T, h *harness, c *client) {
			s := h.fb.cfg.Settings
			s.Webhook = "https://hooks.example/rackwall"
			b, _ := json.Marshal(s)
			wantCode(t, c.api("PUT", "/api/settings", string(b)), http.StatusOK)
			if h.fb.cfg.Settings.Webhook != s.Webhook {
				t.Fatal("not saved")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantJSONError(t, c.api("PUT", "/api/settings", `{"bridge_mtu": 1}`), http.StatusBadRequest, "bridge_mtu")
				wantJSONError(t, c.api("PUT", "/api/settings", `{"surprise": 1}`), http.StatusBadRequest, "unknown field")
				wantJSONError(t, c.api("PUT", "/api/settings", `{`), http.StatusBadRequest, "invalid JSON")
			})
		},
	},
	"GET /api/quarantine": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/api/quarantine")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, `"key": "10.77.0.23"`, `"until"`)
	}},
	"POST /api/quarantine": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.api("POST", "/api/quarantine", `{"source": "mac 02:00:00:00:00:09", "duration": "30m"}`), http.StatusOK)
			if _, ok := h.fb.quarantine["mac 02:00:00:00:00:09"]; !ok {
				t.Fatalf("quarantine %v", h.fb.quarantine)
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantJSONError(t, c.api("POST", "/api/quarantine", `{"source": "10.0.0.0/8"}`), http.StatusBadRequest, "one IPv4 address")
				wantJSONError(t, c.api("POST", "/api/quarantine", `{"source": "10.0.0.1", "duration": "9999h"}`), http.StatusBadRequest, "outside")
			})
		},
	},
	"DELETE /api/quarantine/{key}": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.api("DELETE", "/api/quarantine/10.77.0.23", ""), http.StatusOK)
			if len(h.fb.quarantine) != 0 {
				t.Fatal("not released")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantJSONError(t, c.api("DELETE", "/api/quarantine/10.1.1.1", ""), http.StatusNotFound, "not found")
			})
		},
	},
	"GET /api/capture.pcapng": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.get("/api/capture.pcapng?reason=frag_overlap")
			wantCode(t, rec, http.StatusOK)
			if !bytes.Equal(rec.Body.Bytes(), h.fb.capture) {
				t.Fatal("capture not streamed")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantJSONError(t, c.get("/api/capture.pcapng?reason=none"), http.StatusBadRequest, "unknown reason")
		},
	},
	"GET /api/revisions": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/api/revisions")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, `"revision": 1`, `"current": true`)
	}},
	"GET /api/revisions/{n}": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.get("/api/revisions/1"), http.StatusOK)
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantJSONError(t, c.get("/api/revisions/5"), http.StatusNotFound, "revision 5")
			wantJSONError(t, c.get("/api/revisions/-1"), http.StatusBadRequest, "not a revision number")
		},
	},
	"POST /api/revisions/{n}/rollback": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "admin", "block all\n", 0)
			wantCode(t, c.api("POST", "/api/revisions/1/rollback", ""), http.StatusOK)
			if h.fb.cfg.Revision != 3 {
				t.Fatal("not rolled back")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantJSONError(t, c.api("POST", "/api/revisions/9/rollback", ""), http.StatusNotFound, "revision 9")
			})
		},
	},
	"GET /api/export": {good: func(t *testing.T, h *harness, c *client) {
		rec := c.get("/api/export")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, `"format":"test"`)
	}},
	"POST /api/import": {
		good: func(t *testing.T, h *harness, c *client) {
			wantCode(t, c.api("POST", "/api/import", `{"format":"test","rules":"block all\n"}`), http.StatusOK)
			if h.fb.cfg.Rules != "block all\n" {
				t.Fatal("not imported")
			}
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantJSONError(t, c.api("POST", "/api/import", `{"format":"test","rules":"oops\n"}`), http.StatusBadRequest, "unknown statement")
			})
		},
	},
	"GET /api/audit": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.ApplyRules(context.Background(), "alice", "block all\n", 0)
			rec := c.get("/api/audit?limit=5")
			wantCode(t, rec, http.StatusOK)
			wantBody(t, rec, `"actor": "alice"`, `"action": "rules changed"`)
		},
		bad: func(t *testing.T, h *harness, c *client) {
			wantJSONError(t, c.get("/api/audit?limit=x"), http.StatusBadRequest, "limit")
		},
	},
	"GET /api/events": {good: func(t *testing.T, h *harness, c *client) {
		h.srv.recordEvent(Event{Time: h.clock.now(), Kind: EventBypass, Message: "bypass engaged"})
		rec := c.get("/api/events")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "bypass engaged")
	}},
	"GET /api/tokens": {good: func(t *testing.T, h *harness, c *client) {
		h.fb.tokens = []APIToken{{ID: "t1", Name: "grafana", Hash: strings.Repeat("b", 64)}}
		rec := c.get("/api/tokens")
		wantCode(t, rec, http.StatusOK)
		wantBody(t, rec, "grafana")
		if strings.Contains(rec.Body.String(), "bbbb") {
			t.Fatal("token hash exposed")
		}
	}},
	"POST /api/tokens": {
		good: func(t *testing.T, h *harness, c *client) {
			rec := c.api("POST", "/api/tokens", `{"name": "ci"}`)
			wantCode(t, rec, http.StatusCreated)
			var out map[string]string
			json.Unmarshal(rec.Body.Bytes(), &out)
			// The new token works as a Bearer token.
			req := httptest.NewRequest("GET", "/api/status", nil)
			req.Header.Set("Authorization", "Bearer "+out["token"])
			wantCode(t, h.serve(req), http.StatusOK)
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() {
				wantJSONError(t, c.api("POST", "/api/tokens", `{"name": ""}`), http.StatusBadRequest, "1 to 64")
			})
		},
	},
	"DELETE /api/tokens/{id}": {
		good: func(t *testing.T, h *harness, c *client) {
			h.fb.tokens = []APIToken{{ID: "tok1", Name: "x", Hash: strings.Repeat("a", 64)}}
			wantCode(t, c.api("DELETE", "/api/tokens/tok1", ""), http.StatusOK)
		},
		bad: func(t *testing.T, h *harness, c *client) {
			unchanged(t, h, func() { wantJSONError(t, c.api("DELETE", "/api/tokens/nope", ""), http.StatusNotFound, "not found") })
		},
	},
	"POST /api/reboot": {good: func(t *testing.T, h *harness, c *client) {
		wantCode(t, c.api("POST", "/api/reboot", ""), http.StatusAccepted)
		if len(h.fb.reboots) != 1 {
			t.Fatal("no reboot")
		}
	}},
}

func (c *client) postMultipart(path, file string) *httptest.ResponseRecorder {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	mw.WriteField("csrf", c.csrf)
	fw, _ := mw.CreateFormFile("file", "config.json")
	fw.Write([]byte(file))
	mw.Close()
	req := httptest.NewRequest("POST", path, &b)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.send(req)
}

func TestEveryRouteWorksAndRefusesBadInput(t *testing.T) {
	probe := newHarness(t, true)
	for _, rt := range probe.srv.routeTable() {
		if rt.kind == routeOpen {
			continue // covered by the auth tests
		}
		tc, ok := routeCases[rt.pattern]
		if !ok {
			t.Errorf("route %s has no test case", rt.pattern)
			continue
		}
		t.Run(rt.pattern, func(t *testing.T) {
			for name, f := range map[string]func(*testing.T, *harness, *client){"good": tc.good, "bad": tc.bad} {
				if f == nil {
					continue
				}
				t.Run(name, func(t *testing.T) {
					h := newHarness(t, true)
					h.fb.addDemoSources()
					f(t, h, h.login())
				})
			}
		})
	}
}

// Every API route also works with a Bearer token and no cookie or CSRF header.
func TestBearerTokenReachesTheAPI(t *testing.T) {
	h := newHarness(t, true)
	h.fb.addDemoSources()
	secret, hash := newAPIToken()
	h.fb.tokens = []APIToken{{ID: "t", Name: "ci", Hash: hash}}
	req := httptest.NewRequest("DELETE", "/api/quarantine/10.77.0.23", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	wantCode(t, h.serve(req), http.StatusOK)
	if len(h.fb.quarantine) != 0 {
		t.Fatal("bearer request had no effect")
	}
	req = httptest.NewRequest("GET", "/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+secret)
	wantCode(t, h.serve(req), http.StatusOK)
}

// requestFor makes a request that reaches pattern: its method (GET for a
// pattern without one) and its path with every wildcard filled in.
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
	return httptest.NewRequest(method, path, nil)
}

// Every route, open or guarded, answers with the security headers, and
// with HSTS when it is served over HTTPS.
func TestEveryRouteCarriesSecurityHeaders(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	for _, pattern := range h.srv.Patterns() {
		for _, https := range []bool{false, true} {
			for _, authed := range []bool{false, true} {
				ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond) // ends /events/stream
				req := requestFor(pattern).WithContext(ctx)
				if https {
					req.TLS = &tls.ConnectionState{}
				}
				var rec *httptest.ResponseRecorder
				if authed {
					req.Header.Set("X-CSRF-Token", c.csrf)
					rec = c.send(req)
				} else {
					rec = h.serve(req)
				}
				cancel()
				if err := securityheaders.Check(rec.Header(), https); err != nil {
					t.Errorf("%s (https %v, logged in %v) → %d: %v", pattern, https, authed, rec.Code, err)
				}
			}
		}
	}
}
