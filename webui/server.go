package webui

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/rackwall/rackwall/webui/securityheaders"
)

// Options are what the UI is built from. Monitor, Config, Accounts, Events
// and System are required.
type Options struct {
	Monitor  Monitor
	Config   Configurator
	Accounts Accounts
	Events   Events
	System   System

	// TLS says the UI is served over HTTPS, so cookies are marked Secure
	// even behind a TLS-terminating listener that hides r.TLS.
	TLS bool
	// BcryptCost for new password hashes; at least MinBcryptCost (default 12).
	BcryptCost int
	// LoginAttempts per LoginWindow and client IP (default 5 per minute).
	LoginAttempts int
	LoginWindow   time.Duration
	// SampleEvery is the dashboard's counter sampling period (default 5 s).
	SampleEvery time.Duration
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Server is the UI's http.Handler. Run samples the counters for the charts
// and feeds the live event stream; without it the pages still work.
type Server struct {
	opts     Options
	mux      *http.ServeMux
	sessions *sessionStore
	limiter  *loginLimiter
	series   *series
	log      *slog.Logger
	reg      *prometheus.Registry
	metrics  *uiMetrics

	setupMu sync.Mutex // serializes the first-run password

	hashSlots   *hashSlots                        // bounds concurrent bcrypt work
	compareHash func(hash, password []byte) error // bcrypt's; tests observe it

	live          liveHub
	recent        eventRing
	sampleFailing bool // only Run touches it
}

// New builds the UI handler.
func New(opts Options) (*Server, error) {
	if opts.Monitor == nil || opts.Config == nil || opts.Accounts == nil || opts.Events == nil || opts.System == nil {
		return nil, errors.New("webui: Monitor, Config, Accounts, Events and System are required")
	}
	if opts.BcryptCost == 0 {
		opts.BcryptCost = 12
	}
	if opts.BcryptCost < MinBcryptCost {
		return nil, fmt.Errorf("webui: bcrypt cost %d is below %d", opts.BcryptCost, MinBcryptCost)
	}
	if opts.LoginAttempts == 0 {
		opts.LoginAttempts = 5
	}
	if opts.LoginWindow == 0 {
		opts.LoginWindow = time.Minute
	}
	if opts.SampleEvery == 0 {
		opts.SampleEvery = 5 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	srv := &Server{
		opts:        opts,
		mux:         http.NewServeMux(),
		sessions:    newSessionStore(opts.Now),
		limiter:     newLoginLimiter(opts.Now, opts.LoginAttempts, opts.LoginWindow),
		hashSlots:   newHashSlots(maxConcurrentHashes, hashSlotWait),
		compareHash: bcrypt.CompareHashAndPassword,
		series:      newSeries(opts.SampleEvery),
		log:         opts.Logger,
	}
	srv.live.subs = map[chan liveMsg]struct{}{}
	srv.reg, srv.metrics = newRegistry()
	srv.routes()
	return srv, nil
}

func (srv *Server) now() time.Time { return srv.opts.Now() }

// Registerer lets the appliance add collectors (the dataplane's counters)
// to the registry /metrics serves.
func (srv *Server) Registerer() prometheus.Registerer { return srv.reg }

// Gatherer is the registry /metrics serves, for tests and linting.
func (srv *Server) Gatherer() prometheus.Gatherer { return srv.reg }

// ServeHTTP serves the UI with the security headers every response carries.
func (srv *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityheaders.Set(w.Header(), srv.secureCookies(r))
	srv.mux.ServeHTTP(w, r)
}

// SecurityHeaders gives every response of h the headers the UI's own
// responses carry: the content security policy, no framing, no MIME
// sniffing, no referrer to other sites, and HSTS over HTTPS (when https is
// set, or the request came over TLS). The appliance wraps its root handler
// with it once, so its own routes (/healthz, the update API and page) and
// its HTTP-to-HTTPS redirect carry them too.
func SecurityHeaders(h http.Handler, https bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		securityheaders.Set(w.Header(), https || r.TLS != nil)
		h.ServeHTTP(w, r)
	})
}

// Patterns lists the method-and-path patterns the UI serves, as
// http.ServeMux takes them, so the appliance can check every route it
// serves.
func (srv *Server) Patterns() []string {
	var ps []string
	for _, rt := range srv.routeTable() {
		ps = append(ps, rt.pattern)
	}
	return ps
}

// ErrInvalidToken is Actor's answer to a Bearer token that matches no API
// token.
var ErrInvalidToken = errors.New("invalid API token")

// Actor says who sent r, by the rules of the /api routes for a GET: an
// API token (Authorization: Bearer) or a logged-in session. An anonymous
// request gets "" and no error. The appliance uses it for routes that
// answer everybody but tell more to an admin (/healthz).
func (srv *Server) Actor(r *http.Request) (string, error) {
	if actor, present := srv.bearerActor(r); present {
		if actor == "" {
			return "", ErrInvalidToken
		}
		return actor, nil
	}
	if s := srv.sessions.get(r); s != nil && s.authed() {
		return s.user, nil
	}
	return "", nil
}

// routeKind says how a route is guarded.
type routeKind int

const (
	routeOpen routeKind = iota // login, first run, static files
	routePage                  // a logged-in browser
	routeForm                  // a logged-in browser with the form's CSRF token
	routeAPI                   // a Bearer token, or a session plus X-CSRF-Token on unsafe methods
)

type route struct {
	pattern string
	kind    routeKind
	h       handlerFunc
	open    http.HandlerFunc
}

// routeTable is every route the UI serves; tests walk it to check that
// each one is guarded.
func (srv *Server) routeTable() []route {
	open := func(p string, h http.HandlerFunc) route { return route{pattern: p, kind: routeOpen, open: h} }
	page := func(p string, h handlerFunc) route { return route{pattern: p, kind: routePage, h: h} }
	form := func(p string, h handlerFunc) route { return route{pattern: p, kind: routeForm, h: h} }
	api := func(p string, h handlerFunc) route { return route{pattern: p, kind: routeAPI, h: h} }
	return []route{
		open("GET /static/{file}", srv.handleStatic),
		open("GET /login", srv.handleLoginPage),
		open("POST /login", srv.handleLogin),
		open("GET /setup", srv.handleSetupPage),
		open("POST /setup", srv.handleSetup),

		form("POST /logout", srv.handleLogout),
		page("GET /{$}", srv.handleDashboard),
		page("GET /live", srv.handleLive),
		page("GET /events/stream", srv.handleEventStream),
		page("GET /rules", srv.handleRulesPage),
		form("POST /rules", srv.handleRulesForm),
		form("POST /rules/confirm", srv.handleConfirmForm),
		form("POST /rules/revert", srv.handleRevertForm),
		page("GET /policy", srv.handlePolicyPage),
		form("POST /policy", srv.handlePolicyForm),
		page("GET /hosts", srv.handleHostsPage),
		page("GET /hosts/{key}", srv.handleHostPage),
		form("POST /hosts/quarantine", srv.handleQuarantineForm),
		form("POST /hosts/{key}/release", srv.handleReleaseForm),
		page("GET /capture.pcapng", srv.handleCapture),
		page("GET /system", srv.handleSystemPage),
		page("GET /system/diff", srv.handleDiffPage),
		page("GET /system/export", srv.handleExport),
		form("POST /system/settings", srv.handleSettingsForm),
		form("POST /system/password", srv.handlePasswordForm),
		form("POST /system/tokens", srv.handleTokenCreateForm),
		form("POST /system/tokens/{id}/delete", srv.handleTokenDeleteForm),
		form("POST /system/revisions/{n}/rollback", srv.handleRollbackForm),
		form("POST /system/import", srv.handleImportForm),
		form("POST /system/reboot", srv.handleRebootForm),

		api("GET /metrics", srv.handleMetrics),
		api("GET /api/status", srv.apiStatus),
		api("GET /api/config", srv.apiConfig),
		api("GET /api/knobs", srv.apiKnobs),
		api("GET /api/sources", srv.apiSources),
		api("GET /api/sources/{key}", srv.apiSource),
		api("POST /api/rules", srv.apiRules),
		api("POST /api/rules/check", srv.apiRulesCheck),
		api("POST /api/rules/confirm", srv.apiConfirm),
		api("POST /api/rules/revert", srv.apiRevert),
		api("POST /api/policy", srv.apiPolicy),
		api("PUT /api/settings", srv.apiSettings),
		api("GET /api/quarantine", srv.apiQuarantineList),
		api("POST /api/quarantine", srv.apiQuarantineAdd),
		api("DELETE /api/quarantine/{key}", srv.apiQuarantineRelease),
		api("GET /api/capture.pcapng", srv.handleCapture),
		api("GET /api/revisions", srv.apiRevisions),
		api("GET /api/revisions/{n}", srv.apiRevision),
		api("POST /api/revisions/{n}/rollback", srv.apiRollback),
		api("GET /api/export", srv.handleExport),
		api("POST /api/import", srv.apiImport),
		api("GET /api/audit", srv.apiAudit),
		api("GET /api/events", srv.apiEvents),
		api("GET /api/tokens", srv.apiTokens),
		api("POST /api/tokens", srv.apiTokenCreate),
		api("DELETE /api/tokens/{id}", srv.apiTokenDelete),
		api("POST /api/reboot", srv.apiReboot),
	}
}

func (srv *Server) routes() {
	for _, rt := range srv.routeTable() {
		switch rt.kind {
		case routeOpen:
			srv.mux.HandleFunc(rt.pattern, rt.open)
		case routePage:
			srv.mux.Handle(rt.pattern, srv.page(rt.h))
		case routeForm:
			srv.mux.Handle(rt.pattern, srv.pagePOST(rt.h))
		case routeAPI:
			srv.mux.Handle(rt.pattern, srv.api(rt.h))
		}
	}
}

// request is what a handler knows about an authenticated request.
type request struct {
	actor string
	sess  *session // nil for API token requests
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, rq *request)

// page requires a logged-in browser; others go to the login (or first-run) page.
func (srv *Server) page(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := srv.sessions.get(r)
		if s == nil || !s.authed() {
			if srv.needsSetup(r.Context()) {
				http.Redirect(w, r, "/setup", http.StatusSeeOther)
				return
			}
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, &request{actor: s.user, sess: s})
	})
}

// pagePOST is page plus a valid CSRF token in the form.
func (srv *Server) pagePOST(h handlerFunc) http.Handler {
	return srv.page(func(w http.ResponseWriter, r *http.Request, rq *request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		// PostFormValue parses urlencoded and multipart (import upload) forms.
		token := r.PostFormValue("csrf")
		if !validCSRF(rq.sess, token) {
			http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		h(w, r, rq)
	})
}

// api accepts a Bearer token or a session; a session must send its CSRF
// token in X-CSRF-Token on unsafe methods.
func (srv *Server) api(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if actor, present := srv.bearerActor(r); present {
			if actor == "" {
				writeJSONError(w, http.StatusUnauthorized, "invalid API token")
				return
			}
			h(w, r, &request{actor: actor})
			return
		}
		s := srv.sessions.get(r)
		if s == nil || !s.authed() {
			writeJSONError(w, http.StatusUnauthorized, "authentication required: log in or send Authorization: Bearer <API token>")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !validCSRF(s, r.Header.Get("X-CSRF-Token")) {
			writeJSONError(w, http.StatusForbidden, "invalid or missing X-CSRF-Token header")
			return
		}
		h(w, r, &request{actor: s.user, sess: s})
	})
}

const (
	maxFormBytes   = 5 << 20
	maxBodyBytes   = 1 << 20
	maxImportBytes = 4 << 20
)
