package webui

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Manual quarantine durations.
const (
	defaultQuarantine = 10 * time.Minute
	minQuarantine     = time.Minute
	maxQuarantine     = 7 * 24 * time.Hour
)

// parseSourceKey reads a source as typed or as it appears in a URL, and
// returns it in the canonical form the backend keys on.
func parseSourceKey(s string) (string, error) {
	k, err := source.Parse(s)
	if err != nil {
		return "", &InputError{Part: "source", Msg: err.Error()}
	}
	return k.String(), nil
}

func parseQuarantineDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return defaultQuarantine, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, &InputError{Part: "duration", Msg: fmt.Sprintf("%q is not a duration like 10m or 2h", s)}
	}
	if d < minQuarantine || d > maxQuarantine {
		return 0, &InputError{Part: "duration", Msg: fmt.Sprintf("%v is outside 1m to 168h", d)}
	}
	return d, nil
}

func (srv *Server) hostsView(r *http.Request, rq *request) (hostsView, error) {
	v := hostsView{base: srv.pageBase(r, rq, "Hosts and captures", "hosts"), Reasons: reasonOptions(), Duration: "10m"}
	var err error
	if v.Top, err = srv.opts.Monitor.TopSources(r.Context(), 50); err != nil {
		return v, err
	}
	v.Quarantine, err = srv.opts.Monitor.Quarantined(r.Context())
	return v, err
}

func (srv *Server) handleHostsPage(w http.ResponseWriter, r *http.Request, rq *request) {
	v, err := srv.hostsView(r, rq)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.render(w, r, http.StatusOK, hostsPage(v))
}

func (srv *Server) handleHostPage(w http.ResponseWriter, r *http.Request, rq *request) {
	key, err := parseSourceKey(r.PathValue("key"))
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	d, err := srv.opts.Monitor.Source(r.Context(), key)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	v := hostView{base: srv.pageBase(r, rq, "Source "+d.Key, "hosts"), Detail: d}
	for _, rs := range reason.All() {
		if n := d.ByReason[rs]; n > 0 {
			v.ByReason = append(v.ByReason, reasonCount{Name: rs.String(), Rule: rs.Rule(), Text: rs.Description(), Count: n})
		}
	}
	srv.render(w, r, http.StatusOK, hostPage(v))
}

func (srv *Server) handleQuarantineForm(w http.ResponseWriter, r *http.Request, rq *request) {
	key, err := parseSourceKey(r.PostFormValue("key"))
	var d time.Duration
	if err == nil {
		d, err = parseQuarantineDuration(r.PostFormValue("duration"))
	}
	if err == nil {
		err = srv.opts.Monitor.Quarantine(r.Context(), rq.actor, key, d)
	}
	if err != nil {
		v, verr := srv.hostsView(r, rq)
		if verr != nil {
			srv.errorPage(w, r, rq, err)
			return
		}
		v.Err, v.Key, v.Duration = err.Error(), r.PostFormValue("key"), r.PostFormValue("duration")
		srv.render(w, r, errorStatus(err), hostsPage(v))
		return
	}
	srv.redirectFlash(w, r, rq, hostPath(key), fmt.Sprintf("%s quarantined for %v.", key, d))
}

func (srv *Server) handleReleaseForm(w http.ResponseWriter, r *http.Request, rq *request) {
	key, err := parseSourceKey(r.PathValue("key"))
	if err == nil {
		err = srv.opts.Monitor.Release(r.Context(), rq.actor, key)
	}
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, back(r, "/hosts"), key+" released.")
}

// handleCapture streams dropped frames as pcapng, for pages and the API.
func (srv *Server) handleCapture(w http.ResponseWriter, r *http.Request, rq *request) {
	q := r.URL.Query()
	reasonName, src := q.Get("reason"), q.Get("source")
	name := "rackwall-drops"
	if reasonName != "" {
		rs, ok := reason.Parse(reasonName)
		if !ok || rs == reason.None {
			srv.captureError(w, r, rq, &InputError{Part: "reason", Msg: fmt.Sprintf("unknown reason %q", reasonName)})
			return
		}
		name += "-" + rs.String()
	}
	if src != "" {
		key, err := parseSourceKey(src)
		if err != nil {
			srv.captureError(w, r, rq, err)
			return
		}
		src = key
		name += "-" + strings.NewReplacer(" ", "-", ":", "-", "/", "_").Replace(key)
	}
	cw := &captureWriter{w: w, name: name + ".pcapng"}
	if err := srv.opts.Monitor.Capture(r.Context(), cw, reasonName, src); err != nil {
		if !cw.started {
			srv.captureError(w, r, rq, err)
			return
		}
		// Headers are gone; cutting the stream short tells the client.
		srv.log.Warn("webui: capture stream broken", "err", err)
		panic(http.ErrAbortHandler)
	}
	if !cw.started {
		cw.start() // an empty capture is still a valid download
	}
}

func (srv *Server) captureError(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		srv.writeAPIError(w, err)
		return
	}
	srv.errorPage(w, r, rq, err)
}

// captureWriter sends the download headers with the first bytes, so an
// error before any frame still gets a proper error response.
type captureWriter struct {
	w       http.ResponseWriter
	name    string
	started bool
}

func (c *captureWriter) start() {
	c.started = true
	h := c.w.Header()
	h.Set("Content-Type", "application/x-pcapng")
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", c.name))
	c.w.WriteHeader(http.StatusOK)
}

func (c *captureWriter) Write(p []byte) (int, error) {
	if !c.started {
		c.start()
	}
	return c.w.Write(p)
}
