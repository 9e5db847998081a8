package update

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/rackwall/rackwall/image/bundle"
)

// Handler serves the update API. It does no authentication: the appliance
// mounts it behind the UI's API guard (session + CSRF header, or a Bearer
// token), which also checks a re-entered admin password
// (Config.PasswordHeader).
//
//	POST /api/update               the bundle as the raw body, or as the
//	                               "bundle" field of a multipart form;
//	                               ?allow_downgrade=1 permits older versions
//	POST /api/update/fetch         {"url": "https://...", "allow_downgrade": false}
//	GET  /api/update/status        Status as JSON
//	POST /api/update/channel/check check the update channel now; answers
//	                               200 with the check's outcome, 409 when
//	                               no channel is set
//
// allow_downgrade (which also permits reinstalling the running version)
// needs the admin password in X-Admin-Password: without it the request
// answers 403 before the bundle is read. No downgrade goes below the box's
// version floor. A refused bundle answers 422 with {"error": reason,
// "refused": true}; another update running 409; a fetch that failed on the
// network 502 (the reason is in the log); success 202 with the attempt (the
// box reboots a moment later).
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/update", a.handleUpload)
	mux.HandleFunc("POST /api/update/fetch", a.handleFetch)
	mux.HandleFunc("GET /api/update/status", a.handleStatus)
	mux.HandleFunc("POST /api/update/channel/check", a.handleChannelCheck)
	return mux
}

// maxUpload bounds an uploaded body: a bundle is at most a slot's root
// plus kernel and entry, and a multipart envelope.
const maxUpload = 1 << 30

func (a *Agent) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Status())
}

// downgradeNeedsPassword answers a downgrade asked for without the
// re-entered admin password.
func (a *Agent) downgradeNeedsPassword() string {
	const msg = "installing an older version (or the running one again) needs the admin password"
	if a.cfg.PasswordHeader == "" {
		return msg
	}
	return msg + " in the " + a.cfg.PasswordHeader + " header"
}

// downgradeRefused answers 403 when a downgrade is asked for without a
// confirmed admin password.
func (a *Agent) downgradeRefused(w http.ResponseWriter, r *http.Request, opt InstallOptions) bool {
	if opt.AllowDowngrade && !a.cfg.PasswordConfirmed(r.Context()) {
		writeJSON(w, http.StatusForbidden, apiError{Error: a.downgradeNeedsPassword()})
		return true
	}
	return false
}

func (a *Agent) handleUpload(w http.ResponseWriter, r *http.Request) {
	opt := InstallOptions{AllowDowngrade: truthy(r.URL.Query().Get("allow_downgrade"))}
	if a.downgradeRefused(w, r, opt) {
		return
	}
	body := io.Reader(http.MaxBytesReader(w, r.Body, maxUpload))
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		mr, err := r.MultipartReader()
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: "multipart form: " + err.Error()})
			return
		}
		for {
			p, err := mr.NextPart()
			if err != nil {
				writeJSON(w, http.StatusBadRequest, apiError{Error: `the form has no "bundle" file field`})
				return
			}
			if p.FormName() == "allow_downgrade" {
				v, _ := io.ReadAll(io.LimitReader(p, 16))
				opt.AllowDowngrade = opt.AllowDowngrade || truthy(string(v))
				continue
			}
			if p.FormName() == "bundle" {
				if a.downgradeRefused(w, r, opt) {
					return
				}
				body = p
				break
			}
		}
	}
	at, err := a.Install(r.Context(), body, opt)
	a.answer(w, at, err)
}

func (a *Agent) handleFetch(w http.ResponseWriter, r *http.Request) {
	var req struct {
		URL            string `json:"url"`
		AllowDowngrade bool   `json:"allow_downgrade"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.URL == "" {
		writeJSON(w, http.StatusBadRequest, apiError{Error: `want {"url": "https://…"}`})
		return
	}
	opt := InstallOptions{AllowDowngrade: req.AllowDowngrade || truthy(r.URL.Query().Get("allow_downgrade"))}
	if a.downgradeRefused(w, r, opt) {
		return
	}
	at, err := a.Fetch(r.Context(), req.URL, opt)
	a.answer(w, at, err)
}

func (a *Agent) handleChannelCheck(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	set := a.chSettings.URL != ""
	a.mu.Unlock()
	if !set {
		writeJSON(w, http.StatusConflict, apiError{Error: "no update channel is set (settings: update_channel)"})
		return
	}
	writeJSON(w, http.StatusOK, a.CheckChannel(r.Context()))
}

type apiError struct {
	Error   string `json:"error"`
	Refused bool   `json:"refused,omitempty"`
}

type apiAccepted struct {
	Attempt   *Attempt `json:"attempt"`
	Rebooting bool     `json:"rebooting"`
}

func (a *Agent) answer(w http.ResponseWriter, at *Attempt, err error) {
	var be *bundle.Error
	var ie *InputError
	switch {
	case err == nil:
		writeJSON(w, http.StatusAccepted, apiAccepted{Attempt: at, Rebooting: a.Status().Rebooting})
	case errors.As(err, &be):
		writeJSON(w, http.StatusUnprocessableEntity, apiError{Error: be.Reason, Refused: true})
	case errors.As(err, &ie):
		writeJSON(w, http.StatusBadRequest, apiError{Error: ie.Reason})
	case errors.Is(err, errBusy):
		writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
	case errors.Is(err, errFetchFailed):
		writeJSON(w, http.StatusBadGateway, apiError{Error: err.Error()})
	case errors.Is(err, errFetchBroken):
		writeJSON(w, http.StatusBadGateway, apiError{Error: err.Error()})
	default:
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, apiError{Error: "the upload is larger than any bundle can be"})
			return
		}
		a.cfg.Logger.Error("update failed", "err", err)
		writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
	}
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
