package webui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
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
	Floor        int64  // versions below it are never installed; 0: none
	FellBackFrom []int64
	Channel      *ChannelInfo // the last update channel check; nil: none yet
}

// ChannelInfo is the last update channel check as the update page shows it.
type ChannelInfo struct {
	URL     string
	Time    time.Time
	Outcome string // installed, up_to_date, available, refused, failed
	Reason  string
	Version int64 // the channel's version for this box's board; 0: unknown
}

// Updater is the appliance's update agent as the UI sees it.
type Updater interface {
	UpdateInfo() UpdateInfo
	// InstallBundle verifies and installs a bundle and reboots into it;
	// an error says why not (the slot is untouched if it was refused).
	// allowDowngrade is only honoured when ctx carries a confirmed admin
	// password (AdminPasswordConfirmed).
	InstallBundle(ctx context.Context, bundle io.Reader, allowDowngrade bool) error
}

// AdminPasswordHeader carries the admin password on an API request that
// needs it re-entered: installing an older version, or reinstalling the
// running one. A session or an API token alone is not enough for that: a
// downgrade can bring back a hole a newer release closed.
const AdminPasswordHeader = "X-Admin-Password"

type adminPasswordKey struct{}

// AdminPasswordConfirmed reports whether the request carrying ctx
// re-entered the admin password and it was right.
func AdminPasswordConfirmed(ctx context.Context) bool {
	ok, _ := ctx.Value(adminPasswordKey{}).(bool)
	return ok
}

func withAdminPasswordConfirmed(ctx context.Context) context.Context {
	return context.WithValue(ctx, adminPasswordKey{}, true)
}

// errWrongAdminPassword is what a wrong re-entered password answers.
var errWrongAdminPassword = errors.New("the admin password is wrong")

// confirmAdminPassword checks a re-entered password like the login does:
// the same bcrypt check, and the same per-client limit on attempts, so a
// stolen API token cannot be turned into unlimited password guesses.
func (srv *Server) confirmAdminPassword(r *http.Request, actor, pw string) (code int, err error) {
	if ok, retry := srv.limiter.allow(limiterKey(r)); !ok {
		return http.StatusTooManyRequests, fmt.Errorf("too many password attempts; wait %d seconds", int(retry.Seconds())+1)
	}
	ok, err := srv.checkPassword(r.Context(), pw)
	if errors.Is(err, errHashBusy) {
		return http.StatusServiceUnavailable, err
	}
	if err != nil {
		srv.log.Error("webui: checking the admin password for an update", "err", err)
		return http.StatusInternalServerError, errors.New("the admin password could not be checked")
	}
	if !ok {
		ip := clientIP(r)
		srv.opts.Events.Publish(Event{Time: srv.now(), Kind: EventLoginFailure, Actor: actor, Source: ip,
			Message: "wrong admin password for an update from " + ip})
		return http.StatusForbidden, errWrongAdminPassword
	}
	srv.limiter.reset(limiterKey(r))
	return http.StatusOK, nil
}

// GuardAPI puts h behind the same guard as every /api route: a Bearer
// token, or a logged-in session sending X-CSRF-Token on unsafe methods.
// The appliance mounts the update agent's API with it. A request that
// sends AdminPasswordHeader has it checked here: a wrong one is answered
// at once, a right one reaches h with AdminPasswordConfirmed set. The
// header is removed either way, so nothing behind the guard sees the
// password.
func (srv *Server) GuardAPI(h http.Handler) http.Handler {
	return srv.api(func(w http.ResponseWriter, r *http.Request, rq *request) {
		pw, sent := r.Header.Get(AdminPasswordHeader), r.Header.Values(AdminPasswordHeader) != nil
		r.Header.Del(AdminPasswordHeader)
		if sent {
			if code, err := srv.confirmAdminPassword(r, rq.actor, pw); err != nil {
				writeJSONError(w, code, err.Error())
				return
			}
			r = r.WithContext(withAdminPasswordConfirmed(r.Context()))
		}
		h.ServeHTTP(w, r)
	})
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
	code := http.StatusOK
	if errMsg != "" {
		code = http.StatusUnprocessableEntity
	}
	srv.renderUpdatePageCode(w, r, rq, u, code, errMsg)
}

func (srv *Server) renderUpdatePageCode(w http.ResponseWriter, r *http.Request, rq *request, u Updater, code int, errMsg string) {
	v := updateView{base: srv.pageBase(r, rq, "Update", "system"), Info: u.UpdateInfo()}
	v.Err = errMsg
	srv.render(w, r, code, updatePage(v))
}

// handleUpdateForm streams the multipart upload to the agent without
// buffering it: the form's fields come in order (csrf, allow_downgrade,
// admin_password, bundle), so the token, and for a downgrade the
// re-entered admin password, are checked before a byte of the bundle is
// read.
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
	csrfOK, downgrade, password := false, false, ""
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
		case "admin_password":
			b, _ := io.ReadAll(io.LimitReader(p, MaxPasswordLen+1))
			password = string(b)
		case "bundle":
			if !csrfOK {
				http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
				return
			}
			ctx := r.Context()
			if downgrade {
				if password == "" {
					srv.renderUpdatePageCode(w, r, rq, u, http.StatusForbidden,
						"Installing an older version (or this one again) needs the admin password: enter it above the bundle file.")
					return
				}
				if code, err := srv.confirmAdminPassword(r, rq.actor, password); err != nil {
					srv.renderUpdatePageCode(w, r, rq, u, code, err.Error()+".")
					return
				}
				ctx = withAdminPasswordConfirmed(ctx)
			}
			if err := u.InstallBundle(ctx, p, downgrade); err != nil {
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

// channelOutcomeText says a channel check's outcome in words; a newer
// version in notify mode reads "version N available".
func channelOutcomeText(c *ChannelInfo) string {
	switch c.Outcome {
	case "available":
		return "version " + versionText(c.Version) + " available"
	case "installed":
		return "version " + versionText(c.Version) + " installed"
	case "up_to_date":
		return "up to date"
	}
	return c.Outcome
}

func versionList(vs []int64) string {
	s := make([]string, len(vs))
	for i, v := range vs {
		s[i] = versionText(v)
	}
	return strings.Join(s, ", ")
}
