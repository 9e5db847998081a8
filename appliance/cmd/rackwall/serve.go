package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/webui"
)

// serve runs the UI listener (and on a box the HTTP→HTTPS redirect on :80)
// until ctx ends. A listener that cannot be opened (address in use, the
// management address not there yet) is retried, never fatal.
func (a *box) serve(ctx context.Context) {
	addr := a.f.listen
	if addr == "" {
		addr = a.settings.ListenHTTPS
		if a.f.plainHTTP && a.settings.ListenHTTP != "" {
			addr = a.settings.ListenHTTP
		}
	}
	handler := a.rootHandler()
	var tlsCfg *tls.Config
	if !a.f.plainHTTP {
		cert, fp, err := a.loadCert(ctx)
		if err != nil {
			return
		}
		// On the console (see logOutput) so the admin can check what the
		// browser warns about.
		a.log.Info("web UI certificate", "sha256", fp)
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		a.announceSetupCode(fp)
	} else {
		a.announceSetupCode("")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		a.listenAndServe(ctx, "web UI", addr, handler, tlsCfg, func(up bool) { a.health.setUI(up) })
	})
	if !a.f.plainHTTP && (a.onBox || a.f.mgmt != "") {
		_, port, _ := net.SplitHostPort(addr)
		wg.Go(func() {
			a.listenAndServe(ctx, "HTTPS redirect", ":80", redirectServer(port), nil, nil)
		})
	}
	wg.Wait()
}

// loadCert loads or creates the certificate, retrying while the state
// folder cannot be written.
func (a *box) loadCert(ctx context.Context) (tls.Certificate, string, error) {
	for {
		cert, fp, err := webui.LoadOrCreateCert(a.f.state)
		if err == nil {
			return cert, fp, nil
		}
		a.log.Error("web UI certificate unavailable, retrying", "err", err)
		select {
		case <-ctx.Done():
			return tls.Certificate{}, "", ctx.Err()
		case <-time.After(retryEvery):
		}
	}
}

func (a *box) listenAndServe(ctx context.Context, what, addr string, h http.Handler, tlsCfg *tls.Config, serving func(bool)) {
	for ctx.Err() == nil {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			a.log.Error("cannot listen, retrying", "what", what, "addr", addr, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryEvery):
			}
			continue
		}
		// Counted below TLS: a connection over a cap costs no handshake.
		ln = newLimitListener(ln, uiMaxConns, uiMaxConnsPerClient)
		if tlsCfg != nil {
			ln = tls.NewListener(ln, tlsCfg)
		}
		srv := newHTTPServer(h, uiLimits)
		a.log.Info("serving", "what", what, "addr", ln.Addr().String(), "tls", tlsCfg != nil)
		if serving != nil {
			serving(true)
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-ctx.Done():
				sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				srv.Shutdown(sctx)
			case <-done:
			}
		}()
		err = srv.Serve(ln)
		close(done)
		if serving != nil {
			serving(false)
		}
		if errors.Is(err, http.ErrServerClosed) {
			return
		}
		a.log.Error("listener failed, reopening", "what", what, "addr", addr, "err", err)
	}
}

// rootHandler puts the appliance's own routes in front of the UI and gives
// every response the security headers, HSTS included when it serves HTTPS.
func (a *box) rootHandler() http.Handler {
	h, _ := a.rootRoutes()
	return h
}

// rootRoutes is rootHandler and the patterns the appliance adds to the
// UI's own, for the tests that walk every route.
func (a *box) rootRoutes() (http.Handler, []string) {
	mux := &recordingMux{ServeMux: http.NewServeMux()}
	mux.Handle("GET /healthz", a.healthHandler())
	mux.Handle("POST /api/dataplane/restart", http.HandlerFunc(a.restartHandler))
	a.mountUpdates(mux)
	mux.Handle("/", a.ui)
	return webui.SecurityHeaders(mux, !a.f.plainHTTP), mux.patterns
}

// recordingMux is a ServeMux that remembers its patterns.
type recordingMux struct {
	*http.ServeMux
	patterns []string
}

func (m *recordingMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// redirectServer is the handler of the plain HTTP listener: the redirect
// with the security headers (not HSTS, which browsers ignore over HTTP).
func redirectServer(port string) http.Handler {
	return webui.SecurityHeaders(redirectHandler(port), false)
}

// redirectHandler sends every plain HTTP request to the same path over
// HTTPS on port.
func redirectHandler(port string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		target := "https://" + host
		if port != "" && port != "443" {
			target += ":" + port
		}
		http.Redirect(w, r, target+r.URL.RequestURI(), http.StatusMovedPermanently)
	})
}

// restartHandler is POST /api/dataplane/restart: it ends the running
// dataplane with SIGTERM, or with ?kill=1 with SIGKILL, which is how an
// operator rehearses a crash and watches the bypass take over. It needs an
// API token (Authorization: Bearer).
func (a *box) restartHandler(w http.ResponseWriter, r *http.Request) {
	actor, ok := a.tokenActor(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		json.NewEncoder(w).Encode(map[string]string{"error": "authentication required: send Authorization: Bearer <API token>"})
		return
	}
	sig, how := syscall.SIGTERM, "restart"
	if r.URL.Query().Get("kill") == "1" {
		sig, how = syscall.SIGKILL, "kill"
	}
	pid, err := a.child.signal(sig)
	if err != nil {
		w.WriteHeader(http.StatusConflict)
		json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	a.log.Warn("dataplane "+how+" requested", "actor", actor, "pid", pid)
	a.backend.Events().Publish(webui.Event{Time: time.Now(), Kind: webui.EventBypass, Actor: actor,
		Message: fmt.Sprintf("dataplane %s requested by %s (pid %d)", how, actor, pid)})
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(map[string]any{"status": how, "pid": pid})
}

// tokenActor checks a Bearer API token against the stored token hashes.
func (a *box) tokenActor(r *http.Request) (string, bool) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(secret)))
	want := hex.EncodeToString(sum[:])
	creds, err := a.store.Credentials()
	if err != nil {
		return "", false // unreadable credentials accept no token
	}
	for _, t := range creds.Tokens {
		if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(want)) == 1 {
			return "token:" + t.Name, true
		}
	}
	return "", false
}
