package webui

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// UpdateSlot is one root slot as the update page shows it.
type UpdateSlot struct {
	Slot    string
	Version string // empty: nothing bootable known
	Running bool
}

// UpdateInfo is the update state the page renders.
type UpdateInfo struct {
	Slots        []UpdateSlot
	Trial        bool
	Health       string
	LastResult   string // success, failed, refused, installing, trying; empty: none
	LastReason   string
	LastVersion  int64
	LastDuration time.Duration
	Progress     string // a running update's phase and bytes; empty when idle
}

// Updater is the appliance's update agent as the UI sees it.
type Updater interface {
	UpdateInfo() UpdateInfo
	// InstallBundle verifies and installs a bundle and reboots into it;
	// an error says why not (the slot is untouched if it was refused).
	InstallBundle(ctx context.Context, bundle io.Reader, allowDowngrade bool) error
}

// GuardAPI puts h behind the same guard as every /api route: a Bearer
// token, or a logged-in session sending X-CSRF-Token on unsafe methods.
// The appliance mounts the update agent's API with it.
func (srv *Server) GuardAPI(h http.Handler) http.Handler {
	return srv.api(func(w http.ResponseWriter, r *http.Request, _ *request) { h.ServeHTTP(w, r) })
}

// UpdatePage serves GET /system/update (slots, last result, upload form)
// and POST /system/update (the form's upload). Mount both patterns:
//
//	mux.Handle("GET /system/update", srv.UpdatePage(u))
//	mux.Handle("POST /system/update", srv.UpdatePage(u))
func (srv *Server) UpdatePage(u Updater) http.Handler {
	return srv.page(func(w http.ResponseWriter, r *http.Request, rq *request) {
		if r.Method == http.MethodPost {
			srv.handleUpdateForm(w, r, rq, u)
			return
		}
		srv.renderUpdatePage(w, r, rq, u, "")
	})
}

type updateView struct {
	base
	Info UpdateInfo
}

func (srv *Server) renderUpdatePage(w http.ResponseWriter, r *http.Request, rq *request, u Updater, errMsg string) {
	v := updateView{base: srv.pageBase(r, rq, "Update", "system"), Info: u.UpdateInfo()}
	v.Err = errMsg
	code := http.StatusOK
	if errMsg != "" {
		code = http.StatusUnprocessableEntity
	}
	srv.render(w, r, code, updatePage(v))
}

// handleUpdateForm streams the multipart upload to the agent without
// buffering it: the form's fields come in order, csrf first, so the token
// is checked before a byte of the bundle is read.
func (srv *Server) handleUpdateForm(w http.ResponseWriter, r *http.Request, rq *request, u Updater) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		http.Error(w, "want a multipart form", http.StatusBadRequest)
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	csrfOK, downgrade := false, false
	for {
		p, err := mr.NextPart()
		if err != nil {
			srv.renderUpdatePage(w, r, rq, u, "The form carried no bundle file.")
			return
		}
		switch p.FormName() {
		case "csrf":
			b, _ := io.ReadAll(io.LimitReader(p, 256))
			csrfOK = validCSRF(rq.sess, string(b))
		case "allow_downgrade":
			b, _ := io.ReadAll(io.LimitReader(p, 16))
			downgrade, _ = strconv.ParseBool(string(b))
		case "bundle":
			if !csrfOK {
				http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
			if err := u.InstallBundle(r.Context(), p, downgrade); err != nil {
				srv.renderUpdatePage(w, r, rq, u, err.Error())
				return
			}
			srv.opts.Events.Publish(Event{Time: srv.now(), Kind: EventUpdate, Actor: rq.actor, Message: "update installed; rebooting into the new slot"})
			srv.redirectFlash(w, r, rq, "/system/update", "Bundle verified and written. The box reboots into the new version now.")
			return
		}
	}
}

// EventUpdate is the event kind of an installed update.
const EventUpdate = "update"

func versionText(v int64) string { return strconv.FormatInt(v, 10) }
