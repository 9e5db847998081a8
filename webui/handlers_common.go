package webui

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
)

// render writes a page with the given status.
func (srv *Server) render(w http.ResponseWriter, r *http.Request, code int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	if err := c.Render(r.Context(), w); err != nil {
		srv.log.Warn("webui: rendering", "path", r.URL.Path, "err", err)
	}
}

// pageBase fills the layout data of a page, including the pending-change banner.
func (srv *Server) pageBase(r *http.Request, rq *request, title, active string) base {
	b := base{Title: title, Active: active, User: rq.actor, Now: srv.now()}
	if rq.sess != nil {
		b.CSRF = rq.sess.csrf
		b.Flash = srv.sessions.takeFlash(rq.sess)
	}
	if cfg, err := srv.opts.Config.Config(r.Context()); err == nil {
		b.Pending = cfg.Pending
	}
	return b
}

// redirectFlash answers a form with a redirect that shows msg on the next page.
func (srv *Server) redirectFlash(w http.ResponseWriter, r *http.Request, rq *request, to, msg string) {
	if rq.sess != nil && msg != "" {
		srv.sessions.setFlash(rq.sess, msg)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// back returns the same-site page the form was posted from, or fallback.
func back(r *http.Request, fallback string) string {
	ref, err := url.Parse(r.Referer())
	if err != nil || ref.Host != r.Host || !strings.HasPrefix(ref.Path, "/") || strings.HasPrefix(ref.Path, "//") {
		return fallback
	}
	if ref.RawQuery != "" {
		return ref.Path + "?" + ref.RawQuery
	}
	return ref.Path
}

// errorPage shows a plain page for errors that leave nothing to re-render.
func (srv *Server) errorPage(w http.ResponseWriter, r *http.Request, rq *request, err error) {
	code := errorStatus(err)
	if code == http.StatusInternalServerError {
		srv.log.Error("webui: backend", "path", r.URL.Path, "err", err)
	}
	b := srv.pageBase(r, rq, http.StatusText(code), "")
	b.Err = err.Error()
	srv.render(w, r, code, layout(b))
}
