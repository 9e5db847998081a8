package webui

import (
	"errors"
	"fmt"
	"net/http"
)

// lockedPage answers every login and first-run request while the stored
// credentials are unreadable: nobody logs in, and the first run does not
// reopen (that would hand the box to whoever comes first).
func (srv *Server) lockedPage(w http.ResponseWriter, r *http.Request) bool {
	if !srv.credentialsLocked(r.Context()) {
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	srv.render(w, r, http.StatusServiceUnavailable, authPage("Locked", authView{Locked: true}))
	return true
}

// hashBusy answers a login or first run that found every bcrypt slot taken.
func (srv *Server) hashBusy(w http.ResponseWriter, r *http.Request, title string, v authView) {
	srv.metrics.logins.WithLabelValues("busy").Inc()
	w.Header().Set("Retry-After", "2")
	v.Err = "The box is busy checking other logins. Try again in a moment."
	srv.render(w, r, http.StatusServiceUnavailable, authPage(title, v))
}

func (srv *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
	if srv.lockedPage(w, r) {
		return
	}
	if srv.needsSetup(r.Context()) {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	if s := srv.sessions.get(r); s != nil && s.authed() {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	s := srv.formSession(w, r)
	w.Header().Set("Cache-Control", "no-store")
	srv.render(w, r, http.StatusOK, authPage("Log in", authView{CSRF: s.csrf}))
}

func (srv *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	s := srv.sessions.get(r)
	if !validCSRF(s, r.PostFormValue("csrf")) {
		http.Error(w, "invalid or missing CSRF token: reload the login page and try again", http.StatusForbidden)
		return
	}
	if srv.lockedPage(w, r) {
		return
	}
	if srv.needsSetup(r.Context()) {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	ip, key := clientIP(r), limiterKey(r)
	if ok, retry := srv.limiter.allow(key); !ok {
		srv.metrics.logins.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", fmt.Sprint(int(retry.Seconds())+1))
		srv.render(w, r, http.StatusTooManyRequests, authPage("Log in", authView{CSRF: s.csrf,
			Err: fmt.Sprintf("Too many login attempts from %s. Wait %d seconds.", ip, int(retry.Seconds())+1)}))
		return
	}
	ok, err := srv.checkPassword(r.Context(), r.PostFormValue("password"))
	if errors.Is(err, errHashBusy) {
		srv.hashBusy(w, r, "Log in", authView{CSRF: s.csrf})
		return
	}
	if err != nil {
		srv.log.Error("webui: checking the password", "err", err)
	}
	if !ok {
		srv.metrics.logins.WithLabelValues("failure").Inc()
		srv.opts.Events.Publish(Event{Time: srv.now(), Kind: EventLoginFailure, Source: ip, Message: "failed login from " + ip})
		srv.render(w, r, http.StatusUnauthorized, authPage("Log in", authView{CSRF: s.csrf, Err: "Wrong password."}))
		return
	}
	srv.metrics.logins.WithLabelValues("success").Inc()
	srv.limiter.reset(key)
	srv.startSession(w, r, s, "admin")
	srv.opts.Events.Publish(Event{Time: srv.now(), Kind: EventLogin, Source: ip, Actor: "admin", Message: "admin logged in from " + ip})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// startSession replaces the anonymous session with a logged-in one, so a
// session id planted before the login is worth nothing after it.
func (srv *Server) startSession(w http.ResponseWriter, r *http.Request, old *session, user string) {
	if old != nil {
		srv.sessions.delete(old.id)
	}
	s := srv.sessions.create(user)
	srv.setSessionCookie(w, r, s)
}

func (srv *Server) handleLogout(w http.ResponseWriter, r *http.Request, rq *request) {
	srv.sessions.delete(rq.sess.id)
	srv.clearSessionCookie(w, r)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (srv *Server) handleSetupPage(w http.ResponseWriter, r *http.Request) {
	if srv.lockedPage(w, r) {
		return
	}
	if !srv.needsSetup(r.Context()) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s := srv.formSession(w, r)
	w.Header().Set("Cache-Control", "no-store")
	srv.render(w, r, http.StatusOK, authPage("First run", authView{CSRF: s.csrf, Setup: true}))
}

// handleSetup sets the first admin password. It takes the one-time setup
// code the box shows on its console, so only someone who can see the box's
// console (its owner) can claim it; reaching the UI first is not enough.
func (srv *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	s := srv.sessions.get(r)
	if !validCSRF(s, r.PostFormValue("csrf")) {
		http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
		return
	}
	if srv.lockedPage(w, r) {
		return
	}
	// One first run only: two browsers racing for the password must not
	// both win.
	srv.setupMu.Lock()
	defer srv.setupMu.Unlock()
	if !srv.needsSetup(r.Context()) {
		http.Error(w, "the admin password is already set; log in instead", http.StatusConflict)
		return
	}
	view := authView{CSRF: s.csrf, Setup: true}
	ip, key := clientIP(r), limiterKey(r)
	// Guessing the code costs login attempts like guessing a password.
	if ok, retry := srv.limiter.allow(key); !ok {
		srv.metrics.logins.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", fmt.Sprint(int(retry.Seconds())+1))
		view.Err = fmt.Sprintf("Too many attempts from %s. Wait %d seconds.", ip, int(retry.Seconds())+1)
		srv.render(w, r, http.StatusTooManyRequests, authPage("First run", view))
		return
	}
	ok, err := srv.opts.Accounts.CheckSetupCode(r.Context(), r.PostFormValue("setup_code"))
	if err != nil {
		srv.log.Error("webui: checking the setup code", "err", err)
	}
	if !ok {
		srv.metrics.logins.WithLabelValues("failure").Inc()
		srv.opts.Events.Publish(Event{Time: srv.now(), Kind: EventLoginFailure, Source: ip, Message: "wrong first-run setup code from " + ip})
		view.Err = "Wrong setup code. It is shown on the box's console (serial console or screen)."
		srv.render(w, r, http.StatusUnauthorized, authPage("First run", view))
		return
	}
	pw := r.PostFormValue("password")
	if err := checkNewPassword(pw, r.PostFormValue("password2")); err != nil {
		view.Err = err.Error()
		srv.render(w, r, http.StatusBadRequest, authPage("First run", view))
		return
	}
	hash, err := srv.hashPassword(r.Context(), pw)
	if errors.Is(err, errHashBusy) {
		srv.hashBusy(w, r, "First run", view)
		return
	}
	if err == nil {
		_, err = srv.opts.Accounts.SetAdminHash(r.Context(), "admin (first run from "+ip+")", hash, false)
	}
	if err != nil {
		srv.log.Error("webui: setting the admin password", "err", err)
		view.Err = "The password could not be saved: " + err.Error()
		srv.render(w, r, http.StatusInternalServerError, authPage("First run", view))
		return
	}
	srv.limiter.reset(key)
	srv.startSession(w, r, s, "admin")
	srv.opts.Events.Publish(Event{Time: srv.now(), Kind: EventLogin, Source: ip, Actor: "admin", Message: "admin password set at first run from " + ip})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
