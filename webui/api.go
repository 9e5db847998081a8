package webui

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// byReason turns a counter array into {reason name: count}, leaving out zeros.
func byReason(a [reason.Count]uint64) map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range reason.All() {
		if a[r] > 0 {
			m[r.String()] = a[r]
		}
	}
	return m
}

type statusJSON struct {
	Status
	Drops map[string]uint64   `json:"drops"`
	Rates map[string]portRate `json:"port_rates"`
}

func (srv *Server) apiStatus(w http.ResponseWriter, r *http.Request, rq *request) {
	st, err := srv.opts.Monitor.Status(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, statusJSON{Status: st, Drops: byReason(st.Drops), Rates: srv.series.portRates()})
}

func (srv *Server) apiConfig(w http.ResponseWriter, r *http.Request, rq *request) {
	cfg, err := srv.opts.Config.Config(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (srv *Server) apiKnobs(w http.ResponseWriter, r *http.Request, rq *request) {
	k, err := srv.opts.Config.Knobs(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, k)
}

func queryLimit(r *http.Request, def, most int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		return 0, &InputError{Part: "limit", Msg: "limit is a number from 1 to " + strconv.Itoa(most)}
	}
	return n, nil
}

func (srv *Server) apiSources(w http.ResponseWriter, r *http.Request, rq *request) {
	n, err := queryLimit(r, 20, 1000)
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	top, err := srv.opts.Monitor.TopSources(r.Context(), n)
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	if top == nil {
		top = []SourceSummary{}
	}
	writeJSON(w, http.StatusOK, top)
}

func (srv *Server) apiSource(w http.ResponseWriter, r *http.Request, rq *request) {
	key, err := parseSourceKey(r.PathValue("key"))
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	d, err := srv.opts.Monitor.Source(r.Context(), key)
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		SourceDetail
		ByReason map[string]uint64 `json:"by_reason"`
	}{d, byReason(d.ByReason)})
}

// confirmParam reads ?confirm=60s (or plain seconds); absent means apply
// and store at once.
func confirmParam(r *http.Request) (time.Duration, error) {
	s := r.URL.Query().Get("confirm")
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, &InputError{Part: "confirm", Msg: "confirm is a duration like 60s"}
		}
		d = time.Duration(n) * time.Second
	}
	if d < 10*time.Second || d > time.Hour {
		return 0, &InputError{Part: "confirm", Msg: "confirm is between 10s and 1h"}
	}
	return d, nil
}

func (srv *Server) apiApplied(w http.ResponseWriter, r *http.Request) {
	cfg, err := srv.opts.Config.Config(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (srv *Server) apiRules(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := confirmParam(r)
	var body []byte
	if err == nil {
		body, err = readBody(w, r, maxBodyBytes)
	}
	if err == nil {
		err = srv.opts.Config.ApplyRules(r.Context(), rq.actor, strings.ReplaceAll(string(body), "\r\n", "\n"), d)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiRulesCheck(w http.ResponseWriter, r *http.Request, rq *request) {
	body, err := readBody(w, r, maxBodyBytes)
	if err == nil {
		err = srv.opts.Config.CheckRules(r.Context(), strings.ReplaceAll(string(body), "\r\n", "\n"))
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"valid": true})
}

func (srv *Server) apiPolicy(w http.ResponseWriter, r *http.Request, rq *request) {
	d, err := confirmParam(r)
	var body []byte
	if err == nil {
		body, err = readBody(w, r, maxBodyBytes)
	}
	if err == nil {
		err = srv.opts.Config.ApplyPolicy(r.Context(), rq.actor, strings.ReplaceAll(string(body), "\r\n", "\n"), d)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiConfirm(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.Config.Confirm(r.Context(), rq.actor); err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiRevert(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.Config.Revert(r.Context(), rq.actor); err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiSettings(w http.ResponseWriter, r *http.Request, rq *request) {
	var s Settings
	err := decodeJSON(w, r, &s)
	if err == nil {
		err = srv.opts.Config.SetSettings(r.Context(), rq.actor, s)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiQuarantineList(w http.ResponseWriter, r *http.Request, rq *request) {
	q, err := srv.opts.Monitor.Quarantined(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	if q == nil {
		q = []QuarantineEntry{}
	}
	writeJSON(w, http.StatusOK, q)
}

func (srv *Server) apiQuarantineAdd(w http.ResponseWriter, r *http.Request, rq *request) {
	var req struct {
		Source   string `json:"source"`
		Duration string `json:"duration"`
	}
	err := decodeJSON(w, r, &req)
	var key string
	var d time.Duration
	if err == nil {
		key, err = parseSourceKey(req.Source)
	}
	if err == nil {
		d, err = parseQuarantineDuration(req.Duration)
	}
	if err == nil {
		err = srv.opts.Monitor.Quarantine(r.Context(), rq.actor, key, d)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"source": key, "duration": d.String()})
}

func (srv *Server) apiQuarantineRelease(w http.ResponseWriter, r *http.Request, rq *request) {
	key, err := parseSourceKey(r.PathValue("key"))
	if err == nil {
		err = srv.opts.Monitor.Release(r.Context(), rq.actor, key)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"released": key})
}

func (srv *Server) apiRevisions(w http.ResponseWriter, r *http.Request, rq *request) {
	revs, err := srv.opts.Config.Revisions(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, revs)
}

func (srv *Server) apiRevision(w http.ResponseWriter, r *http.Request, rq *request) {
	n, err := parseRevision(r.PathValue("n"))
	var cfg ConfigView
	if err == nil {
		cfg, err = srv.opts.Config.Revision(r.Context(), n)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (srv *Server) apiRollback(w http.ResponseWriter, r *http.Request, rq *request) {
	n, err := parseRevision(r.PathValue("n"))
	if err == nil {
		err = srv.opts.Config.Rollback(r.Context(), rq.actor, n)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiImport(w http.ResponseWriter, r *http.Request, rq *request) {
	body, err := readBody(w, r, maxImportBytes)
	if err == nil {
		err = srv.opts.Config.Import(r.Context(), rq.actor, body)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	srv.apiApplied(w, r)
}

func (srv *Server) apiAudit(w http.ResponseWriter, r *http.Request, rq *request) {
	n, err := queryLimit(r, 100, 10000)
	var entries []AuditEntry
	if err == nil {
		entries, err = srv.opts.Config.Audit(r.Context(), n)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	if entries == nil {
		entries = []AuditEntry{}
	}
	writeJSON(w, http.StatusOK, entries)
}

func (srv *Server) apiEvents(w http.ResponseWriter, r *http.Request, rq *request) {
	writeJSON(w, http.StatusOK, srv.recent.list())
}

func (srv *Server) apiTokens(w http.ResponseWriter, r *http.Request, rq *request) {
	t, err := srv.opts.Accounts.Tokens(r.Context())
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	if t == nil {
		t = []APIToken{}
	}
	writeJSON(w, http.StatusOK, t)
}

func (srv *Server) apiTokenCreate(w http.ResponseWriter, r *http.Request, rq *request) {
	var req struct {
		Name string `json:"name"`
	}
	err := decodeJSON(w, r, &req)
	var secret string
	var t APIToken
	if err == nil {
		secret, t, err = srv.createToken(r, rq.actor, req.Name)
	}
	if err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"id": t.ID, "name": t.Name, "token": secret})
}

func (srv *Server) apiTokenDelete(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.Accounts.DeleteToken(r.Context(), rq.actor, r.PathValue("id")); err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"deleted": r.PathValue("id")})
}

func (srv *Server) apiReboot(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.System.Reboot(r.Context(), rq.actor); err != nil {
		srv.writeAPIError(w, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "rebooting"})
}
