package webui

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

func (srv *Server) systemView(r *http.Request, rq *request) (systemView, error) {
	ctx := r.Context()
	v := systemView{base: srv.pageBase(r, rq, "System", "system")}
	var err error
	if v.Config, err = srv.opts.Config.Config(ctx); err != nil {
		return v, err
	}
	v.DNS = strings.Join(v.Config.Settings.MgmtDNS, ", ")
	if v.Revisions, err = srv.opts.Config.Revisions(ctx); err != nil {
		return v, err
	}
	if v.Audit, err = srv.opts.Config.Audit(ctx, 50); err != nil {
		return v, err
	}
	v.Tokens, err = srv.opts.Accounts.Tokens(ctx)
	return v, err
}

func (srv *Server) handleSystemPage(w http.ResponseWriter, r *http.Request, rq *request) {
	v, err := srv.systemView(r, rq)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	srv.render(w, r, http.StatusOK, systemPage(v))
}

// systemError re-renders the System page with the error of a form.
func (srv *Server) systemError(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	v, verr := srv.systemView(r, rq)
	if verr != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	v.Err = err.Error()
	srv.render(w, r, errorStatus(err), systemPage(v))
}

// settingsFromForm reads the settings form; numbers that do not parse are
// input errors naming the field.
func settingsFromForm(r *http.Request) (Settings, error) {
	s := Settings{
		Syslog:      strings.TrimSpace(r.PostFormValue("syslog")),
		Webhook:     strings.TrimSpace(r.PostFormValue("webhook")),
		ListenHTTPS: strings.TrimSpace(r.PostFormValue("listen_https")),
		ListenHTTP:  strings.TrimSpace(r.PostFormValue("listen_http")),
		MgmtMode:    r.PostFormValue("mgmt_mode"),
		MgmtAddress: strings.TrimSpace(r.PostFormValue("mgmt_address")),
		MgmtGateway: strings.TrimSpace(r.PostFormValue("mgmt_gateway")),
		FailMode:    r.PostFormValue("fail_mode"),

		UpdateChannel:  strings.TrimSpace(r.PostFormValue("update_channel")),
		UpdateInterval: strings.TrimSpace(r.PostFormValue("update_interval")),
		UpdateMode:     r.PostFormValue("update_mode"),
	}
	for _, d := range strings.FieldsFunc(r.PostFormValue("mgmt_dns"), func(c rune) bool { return c == ',' || unicode.IsSpace(c) }) {
		s.MgmtDNS = append(s.MgmtDNS, d)
	}
	var err error
	if s.ConfirmSeconds, err = strconv.Atoi(strings.TrimSpace(r.PostFormValue("confirm_seconds"))); err != nil {
		return s, &InputError{Part: "settings", Msg: "confirm_seconds: not a whole number of seconds"}
	}
	if s.BridgeMTU, err = strconv.Atoi(strings.TrimSpace(r.PostFormValue("bridge_mtu"))); err != nil {
		return s, &InputError{Part: "settings", Msg: "bridge_mtu: not a number"}
	}
	return s, nil
}

func (srv *Server) handleSettingsForm(w http.ResponseWriter, r *http.Request, rq *request) {
	s, err := settingsFromForm(r)
	if err == nil {
		err = srv.opts.Config.SetSettings(r.Context(), rq.actor, s)
	}
	if err != nil {
		srv.systemError(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, "/system", "Settings saved.")
}

// handlePasswordForm changes the admin password. Everyone logged in with
// the old one is logged out (this browser gets a fresh session), and with
// the box ticked (the default) every API token is revoked in the same
// write, so nothing minted with a leaked password outlives the change.
func (srv *Server) handlePasswordForm(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	if ok, _ := srv.limiter.allow(limiterKey(r)); !ok {
		srv.systemError(w, r, rq, &ConflictError{Msg: "too many password attempts; wait a minute"})
		return
	}
	ok, err := srv.checkPassword(ctx, r.PostFormValue("current"))
	if err == nil && !ok {
		err = &InputError{Part: "password", Msg: "the current password is wrong"}
	}
	pw := r.PostFormValue("password")
	if err == nil {
		err = checkNewPassword(pw, r.PostFormValue("password2"))
	}
	var hash string
	if err == nil {
		hash, err = srv.hashPassword(ctx, pw)
	}
	revokeTokens := r.PostFormValue("revoke_tokens") == "yes"
	revoked := 0
	if err == nil {
		revoked, err = srv.opts.Accounts.SetAdminHash(ctx, rq.actor, hash, revokeTokens)
	}
	if errors.Is(err, errHashBusy) {
		err = &ConflictError{Msg: errHashBusy.Error()}
	}
	if err != nil {
		srv.systemError(w, r, rq, err)
		return
	}
	srv.sessions.deleteAll()
	s := srv.sessions.create(rq.actor)
	srv.setSessionCookie(w, r, s)
	msg := "Password changed; other sessions were logged out."
	if revokeTokens {
		msg = fmt.Sprintf("Password changed; other sessions were logged out and %d API tokens revoked.", revoked)
	}
	srv.sessions.setFlash(s, msg)
	http.Redirect(w, r, "/system", http.StatusSeeOther)
}

func checkTokenName(name string) error {
	if name == "" || len(name) > 64 {
		return &InputError{Part: "token", Msg: "a token name is 1 to 64 characters"}
	}
	for _, c := range name {
		if !unicode.IsPrint(c) {
			return &InputError{Part: "token", Msg: "a token name is printable text"}
		}
	}
	return nil
}

// createToken makes a token and returns its secret, which is never stored.
func (srv *Server) createToken(r *http.Request, actor, name string) (string, APIToken, error) {
	name = strings.TrimSpace(name)
	if err := checkTokenName(name); err != nil {
		return "", APIToken{}, err
	}
	secret, hash := newAPIToken()
	t := APIToken{ID: randomToken(9), Name: name, Hash: hash, Created: srv.now().UTC()}
	if err := srv.opts.Accounts.AddToken(r.Context(), actor, t); err != nil {
		return "", APIToken{}, err
	}
	return secret, t, nil
}

func (srv *Server) handleTokenCreateForm(w http.ResponseWriter, r *http.Request, rq *request) {
	secret, _, err := srv.createToken(r, rq.actor, r.PostFormValue("name"))
	if err != nil {
		srv.systemError(w, r, rq, err)
		return
	}
	v, err := srv.systemView(r, rq)
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	v.NewToken = secret
	srv.render(w, r, http.StatusOK, systemPage(v))
}

func (srv *Server) handleTokenDeleteForm(w http.ResponseWriter, r *http.Request, rq *request) {
	if err := srv.opts.Accounts.DeleteToken(r.Context(), rq.actor, r.PathValue("id")); err != nil {
		srv.systemError(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, "/system", "Token deleted.")
}

func parseRevision(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, &InputError{Part: "revision", Msg: fmt.Sprintf("%q is not a revision number", s)}
	}
	return n, nil
}

func (srv *Server) handleRollbackForm(w http.ResponseWriter, r *http.Request, rq *request) {
	n, err := parseRevision(r.PathValue("n"))
	if err == nil {
		err = srv.opts.Config.Rollback(r.Context(), rq.actor, n)
	}
	if err != nil {
		srv.systemError(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, "/system", fmt.Sprintf("Rolled back to revision %d.", n))
}

func settingsLines(s Settings) string {
	return fmt.Sprintf("syslog: %s\nwebhook: %s\nconfirm_seconds: %d\nlisten_https: %s\nlisten_http: %s\nmgmt_mode: %s\nmgmt_address: %s\nmgmt_gateway: %s\nmgmt_dns: %s\nbridge_mtu: %d\nfail_mode: %s\nupdate_channel: %s\nupdate_interval: %s\nupdate_mode: %s\n",
		s.Syslog, s.Webhook, s.ConfirmSeconds, s.ListenHTTPS, s.ListenHTTP, s.MgmtMode, s.MgmtAddress, s.MgmtGateway, strings.Join(s.MgmtDNS, ", "), s.BridgeMTU, s.FailMode,
		s.UpdateChannel, s.UpdateInterval, s.UpdateMode)
}

func (srv *Server) handleDiffPage(w http.ResponseWriter, r *http.Request, rq *request) {
	ctx := r.Context()
	q := r.URL.Query()
	a, err := parseRevision(q.Get("a"))
	var b int
	if err == nil {
		b, err = parseRevision(q.Get("b"))
	}
	v := diffView{base: srv.pageBase(r, rq, "Revision diff", "system")}
	if err == nil {
		v.A, err = srv.opts.Config.Revision(ctx, a)
	}
	if err == nil {
		v.B, err = srv.opts.Config.Revision(ctx, b)
	}
	if err != nil {
		srv.errorPage(w, r, rq, err)
		return
	}
	for _, part := range []struct{ name, a, b string }{
		{"Rules", v.A.Rules, v.B.Rules},
		{"Policy", v.A.Policy, v.B.Policy},
		{"Settings", settingsLines(v.A.Settings), settingsLines(v.B.Settings)},
	} {
		d := lineDiff(part.a, part.b)
		v.Sections = append(v.Sections, diffSection{Name: part.name, Lines: diffHunks(d, 3), Changed: diffChanged(d)})
	}
	srv.render(w, r, http.StatusOK, diffPage(v))
}

// handleExport downloads the config, for pages and the API.
func (srv *Server) handleExport(w http.ResponseWriter, r *http.Request, rq *request) {
	data, err := srv.opts.Config.Export(r.Context())
	if err != nil {
		srv.captureError(w, r, rq, err)
		return
	}
	cfg, _ := srv.opts.Config.Config(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=\"rackwall-config-r%d.json\"", cfg.Revision))
	w.Write(data)
}

func (srv *Server) handleImportForm(w http.ResponseWriter, r *http.Request, rq *request) {
	f, _, err := r.FormFile("file")
	if err != nil {
		srv.systemError(w, r, rq, &InputError{Part: "import", Msg: "choose a config file to import"})
		return
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxImportBytes+1))
	if err == nil && len(data) > maxImportBytes {
		err = &InputError{Part: "import", Msg: "the file is too large"}
	}
	if err == nil {
		err = srv.opts.Config.Import(r.Context(), rq.actor, data)
	}
	if err != nil {
		var ie *InputError
		if errors.As(err, &ie) {
			err = &InputError{Part: ie.Part, Line: ie.Line, Column: ie.Column, Msg: "import refused, nothing was changed: " + ie.Msg}
		}
		srv.systemError(w, r, rq, err)
		return
	}
	srv.redirectFlash(w, r, rq, "/system", "Config imported.")
}

func (srv *Server) handleRebootForm(w http.ResponseWriter, r *http.Request, rq *request) {
	if r.PostFormValue("sure") != "yes" {
		srv.systemError(w, r, rq, &InputError{Part: "reboot", Msg: "tick the box to confirm the reboot"})
		return
	}
	if err := srv.opts.System.Reboot(r.Context(), rq.actor); err != nil {
		srv.systemError(w, r, rq, err)
		return
	}
	b := srv.pageBase(r, rq, "Rebooting", "system")
	b.Flash = "The box is rebooting. Reload this page in a minute."
	srv.render(w, r, http.StatusAccepted, layout(b))
}
