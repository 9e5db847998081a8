package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/rackwall/rackwall/appliance/supervise"
)

// healthState is what the appliance knows about itself beyond the
// supervisor: whether a config is loaded and whether the UI listens.
type healthState struct {
	mu           sync.Mutex
	configLoaded bool
	warnings     []string
	pending      []string // warnings not yet published as events
	uiServing    bool
}

func (h *healthState) setConfig(loaded bool, warnings []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.configLoaded, h.warnings = loaded, warnings
	h.pending = append(h.pending, warnings...)
}

func (h *healthState) takeWarnings() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := h.pending
	h.pending = nil
	return w
}

func (h *healthState) setUI(serving bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.uiServing = serving
}

// portHealth is one bridge port in /healthz.
type portHealth struct {
	Name    string `json:"name"`
	Role    string `json:"role"`
	Up      bool   `json:"up"`
	Carrier bool   `json:"carrier"`
	Error   string `json:"error,omitempty"`
}

// healthReport is the body of GET /healthz.
type healthReport struct {
	Healthy        bool         `json:"healthy"`
	ConfigLoaded   bool         `json:"config_loaded"`
	ConfigWarnings []string     `json:"config_warnings,omitempty"`
	Dataplane      string       `json:"dataplane"` // starting, forwarding, bypass, isolated
	Reason         string       `json:"reason,omitempty"`
	Restarts       int          `json:"dataplane_restarts"`
	Bypass         bool         `json:"bypass"` // the kernel bridge joins the ports
	Ports          []portHealth `json:"ports"`
	UI             bool         `json:"ui"`
}

// judge decides health: a config in use, the dataplane forwarding, both
// bridge ports administratively up and the UI serving. A missing cable is
// not the box's fault and does not make it unhealthy (carrier is shown).
func (r *healthReport) judge() {
	r.Healthy = r.ConfigLoaded && r.Dataplane == string(supervise.Forwarding) && r.UI
	for _, p := range r.Ports {
		if !p.Up || p.Error != "" {
			r.Healthy = false
		}
	}
}

// healthHandler serves GET /healthz. Anybody may ask whether the box
// works: monitoring gets 200 "healthy" or 503 "unhealthy" and nothing
// more, because which part is down (the dataplane, a port, the config) is
// worth knowing to an attacker too. An API token or a logged-in session
// gets the whole report as JSON with the same status. The update agent's
// post-boot check asks healthReport directly.
func (a *box) healthHandler() http.Handler {
	return healthHandler(a.healthReport, a.ui.Actor)
}

func healthHandler(report func() healthReport, actor func(*http.Request) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		who, err := actor(r)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]string{"error": err.Error() + ": send a valid token for the details, or none for healthy/unhealthy"})
			return
		}
		rep := report()
		code, word := http.StatusOK, "healthy"
		if !rep.Healthy {
			code, word = http.StatusServiceUnavailable, "unhealthy"
		}
		if who == "" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(code)
			io.WriteString(w, word+"\n")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		json.NewEncoder(w).Encode(rep)
	})
}

func (a *box) healthReport() healthReport {
	a.health.mu.Lock()
	rep := healthReport{ConfigLoaded: a.health.configLoaded, ConfigWarnings: a.health.warnings, UI: a.health.uiServing}
	a.health.mu.Unlock()
	st := a.sup.Status()
	rep.Dataplane, rep.Reason, rep.Restarts = string(st.State), st.Reason, st.Restarts
	rep.Bypass = a.links.bypassActive()
	for _, p := range [][2]string{{a.f.uplink, "uplink"}, {a.f.rack, "rack"}} {
		ph := portHealth{Name: p[0], Role: p[1]}
		if ls, err := a.links.state(p[0]); err != nil {
			ph.Error = err.Error()
		} else {
			ph.Up, ph.Carrier = ls.Up, ls.Carrier
		}
		rep.Ports = append(rep.Ports, ph)
	}
	rep.judge()
	return rep
}
