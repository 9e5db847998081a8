// Package webui is the box's management interface: an http.Handler that
// serves the server-rendered pages (templ, SVG charts, a few lines of our own
// JavaScript for live updates), the JSON API under /api/ and /metrics, with
// login, sessions, CSRF protection and API tokens. It renders and changes the
// state it is handed through the small interfaces in backend.go and owns no
// packet logic.
package webui
