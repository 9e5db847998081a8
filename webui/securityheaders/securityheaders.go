// Package securityheaders is the set of HTTP security headers every
// response of the box carries: the web UI's pages, API and static files,
// and the appliance's own routes (/healthz, the update API, the
// HTTP-to-HTTPS redirect). The UI sets them; the set lives in this leaf
// package so that the tests of the UI and of the appliance hold their
// responses to one definition of it.
package securityheaders

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
)

// ContentSecurityPolicy allows nothing but the UI's own files: the pages
// have no inline script or style (live.js and style.css are static files)
// and the charts are inline SVG markup, not images from elsewhere.
const ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; " +
	"frame-ancestors 'none'; form-action 'self'; base-uri 'none'"

// hstsMaxAge is a year: browsers keep to HTTPS for the box's name. They
// ignore the header on a connection whose certificate they had to be told
// to accept, so a box with its self-signed certificate stays reachable.
const hstsMaxAge = "max-age=31536000"

// hsts is the header that is set only over HTTPS: a browser ignores it over
// plain HTTP.
const hsts = "Strict-Transport-Security"

// Set gives h the content security policy, no framing, no MIME sniffing,
// no referrer to other sites, and, when the response goes over HTTPS,
// HSTS.
func Set(h http.Header, https bool) {
	h.Set("Content-Security-Policy", ContentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	if https {
		h.Set(hsts, hstsMaxAge)
	}
}

// Check says how h differs from what Set gives a response over HTTPS
// (https) or plain HTTP: every header missing or with another value, and
// HSTS over plain HTTP. It returns nil when h carries the whole set.
func Check(h http.Header, https bool) error {
	want := http.Header{}
	Set(want, https)
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if got := h.Get(k); got != want.Get(k) {
			errs = append(errs, fmt.Errorf("%s %q, want %q", k, got, want.Get(k)))
		}
	}
	if got := h.Get(hsts); !https && got != "" {
		errs = append(errs, fmt.Errorf("%s %q over plain HTTP, want none", hsts, got))
	}
	return errors.Join(errs...)
}
