package webui

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// TestDemoServer serves the UI over the in-memory fake with an hour of
// generated history, for looking at the pages in a browser:
//
//	RACKWALL_UI_DEMO=127.0.0.1:8099 go test ./webui -run TestDemoServer -timeout 0
//
// It logs in automatically at /demo-login.
func TestDemoServer(t *testing.T) {
	addr := os.Getenv("RACKWALL_UI_DEMO")
	if addr == "" {
		t.Skip("set RACKWALL_UI_DEMO=host:port to serve the UI with sample data")
	}
	h := newHarness(t, true)
	h.fb.addDemoSources()
	// The real knob table, so the policy page looks as on the box.
	h.fb.knobs = nil
	def := config.Default()
	for _, k := range config.Knobs() {
		if k.Shorthand {
			continue
		}
		v := Knob{Name: k.Name, Rule: k.Rule, Value: k.Value(&def), Default: k.Default, Range: k.Range(), Unit: k.Unit, Description: k.Description}
		if k.Type == config.TypeEnum {
			v.Choices = k.Choices
		} else if k.Type == config.TypeBool {
			v.Choices = []string{"true", "false"}
		}
		h.fb.knobs = append(h.fb.knobs, v)
	}
	// An hour of samples: a steady trickle and a fragment-overlap flood.
	start := h.clock.now()
	h.clock.advance(-time.Hour)
	var st Status = h.fb.status
	for i := 0; i <= 720; i++ {
		x := float64(i)
		st.Drops[reason.TCPFlagsInvalid] += uint64(20 + 10*math.Sin(x/15))
		st.Drops[reason.MartianSource] += 8
		st.Drops[reason.FragTooSmall] += uint64(15 + 15*math.Sin(x/40))
		if i > 600 {
			st.Drops[reason.FragOverlap] += 4000
			st.Drops[reason.Quarantined] += uint64(2500 * (1 - math.Exp(-float64(i-600)/10)))
		}
		for p := range st.Ports {
			st.Ports[p].RxFrames += 400000 + uint64(i*100)
			st.Ports[p].RxBytes += 300000000
			st.Ports[p].TxFrames += 390000
			st.Ports[p].TxBytes += 290000000
		}
		h.srv.series.add(sample{t: h.clock.now(), drops: st.Drops, ports: append([]Port(nil), st.Ports...)})
		h.clock.advance(5 * time.Second)
	}
	h.fb.status = st
	_ = start
	h.srv.recordEvent(Event{Time: h.clock.now().Add(-2 * time.Minute), Kind: EventQuarantine, Source: "10.77.0.23", Message: "10.77.0.23 quarantined automatically until 12:07 (offence 1, 41230 recent violations)"})
	h.srv.recordEvent(Event{Time: h.clock.now().Add(-time.Minute), Kind: EventLoginFailure, Source: "192.0.2.80", Message: "failed login from 192.0.2.80"})
	h.fb.ApplyRules(context.Background(), "admin", "set default pass\npass in proto tcp from any to any port 22\nblock in from 203.0.113.0/24\n", 0)

	// A pending change, so the banner and its countdown show.
	h.fb.ApplyPolicy(context.Background(), "admin", "max_fragments: 64\n", 90*time.Second)
	h.srv.opts.SampleEvery = time.Second
	go h.srv.Run(context.Background())

	mux := http.NewServeMux()
	mux.Handle("/", h.srv)
	mux.HandleFunc("/demo-login", func(w http.ResponseWriter, r *http.Request) {
		s := h.srv.sessions.create("admin")
		h.srv.setSessionCookie(w, r, s)
		to := r.URL.Query().Get("to")
		if !strings.HasPrefix(to, "/") {
			to = "/"
		}
		http.Redirect(w, r, to, http.StatusSeeOther)
	})
	// The rules page as it answers a check with a syntax error.
	mux.HandleFunc("/demo-rules-error", func(w http.ResponseWriter, r *http.Request) {
		s := h.srv.sessions.create("admin")
		form := url.Values{"csrf": {s.csrf}, "action": {"check"}, "rules": {"set default pass\npass in proto tcp from any to any port 22\nblock in from 203.0.113.0/24\npass in proto udp to any port 53\npas out all\n"}}
		req := httptest.NewRequest("POST", "/rules", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: s.id})
		h.srv.ServeHTTP(w, req)
	})
	t.Logf("serving on http://%s/demo-login", addr)
	t.Fatal(http.ListenAndServe(addr, mux))
}
