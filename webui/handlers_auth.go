package webui

import (
	"fmt"
	"net/http"
)

func (srv *Server) handleLoginPage(w http.ResponseWriter, r *http.Request) {
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
	if srv.needsSetup(r.Context()) {
		http.Redirect(w, r, "/setup", http.StatusSeeOther)
		return
	}
	ip := clientIP(r)
	if ok, retry := srv.limiter.allow(ip); !ok {
		srv.metrics.logins.WithLabelValues("rate_limited").Inc()
		w.Header().Set("Retry-After", fmt.Sprint(int(retry.Seconds())+1))
		srv.render(w, r, http.StatusTooManyRequests, authPage("Log in", authView{CSRF: s.csrf,
			Err: fmt.Sprintf("Too many login attempts from %s. Wait %d seconds.", ip, int(retry.Seconds())+1)}))
		return
	}
	ok, err := srv.checkPassword(r.Context(), r.PostFormValue("password"))
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
	srv.limiter.reset(ip)
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
	if !srv.needsSetup(r.Context()) {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s := srv.formSession(w, r)
	w.Header().Set("Cache-Control", "no-store")
	srv.render(w, r, http.StatusOK, authPage("First run", authView{CSRF: s.csrf, Setup: true}))
}

func (srv *Server) handleSetup(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	s := srv.sessions.get(r)
	if !validCSRF(s, r.PostFormValue("csrf")) {
		http.Error(w, "invalid or missing CSRF token: reload the page and try again", http.StatusForbidden)
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
	pw := r.PostFormValue("password")
	if err := checkNewPassword(pw, r.PostFormValue("password2")); err != nil {
		srv.render(w, r, http.StatusBadRequest, authPage("First run", authView{CSRF: s.csrf, Setup: true, Err: err.Error()}))
		return
	}
	hash, err := srv.hashPassword(pw)
	if err == nil {
		err = srv.opts.Accounts.SetAdminHash(r.Context(), "admin (first run from "+clientIP(r)+")", hash)
	}
	if err != nil {
		srv.log.Error("webui: setting the admin password", "err", err)
		srv.render(w, r, http.StatusInternalServerError, authPage("First run", authView{CSRF: s.csrf, Setup: true, Err: "The password could not be saved: " + err.Error()}))
		return
	}
	srv.startSession(w, r, s, "admin")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
