package securityheaders

import (
	"net/http"
	"strings"
	"testing"
)

// The set itself, value by value: the checks of the routes compare
// against Set, so this is where a weakened header is caught.
func TestSetGivesThePolicy(t *testing.T) {
	for _, https := range []bool{false, true} {
		h := http.Header{}
		Set(h, https)
		want := map[string]string{
			"Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
			"X-Frame-Options":         "DENY",
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "same-origin",
		}
		if https {
			want["Strict-Transport-Security"] = "max-age=31536000"
		}
		if len(h) != len(want) {
			t.Errorf("https %v: %d headers %v, want %d", https, len(h), h, len(want))
		}
		for k, v := range want {
			if got := h.Get(k); got != v {
				t.Errorf("https %v: %s %q, want %q", https, k, got, v)
			}
		}
	}
}

func TestCheckNamesEveryDifference(t *testing.T) {
	full := func(https bool) http.Header {
		h := http.Header{}
		Set(h, https)
		return h
	}
	for _, https := range []bool{false, true} {
		if err := Check(full(https), https); err != nil {
			t.Errorf("the whole set, https %v: %v", https, err)
		}
	}
	for _, tc := range []struct {
		what   string
		h      http.Header
		https  bool
		naming []string
	}{
		{"nothing set", http.Header{}, false, []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"}},
		{"no HSTS over HTTPS", full(false), true, []string{"Strict-Transport-Security"}},
		{"HSTS over plain HTTP", full(true), false, []string{"Strict-Transport-Security \"max-age=31536000\" over plain HTTP"}},
		{"framing allowed", func() http.Header {
			h := full(true)
			h.Set("X-Frame-Options", "SAMEORIGIN")
			return h
		}(), true, []string{`X-Frame-Options "SAMEORIGIN", want "DENY"`}},
		{"a weaker policy", func() http.Header {
			h := full(false)
			h.Set("Content-Security-Policy", "default-src *")
			return h
		}(), false, []string{"Content-Security-Policy \"default-src *\""}},
	} {
		err := Check(tc.h, tc.https)
		if err == nil {
			t.Errorf("%s: no error", tc.what)
			continue
		}
		for _, n := range tc.naming {
			if !strings.Contains(err.Error(), n) {
				t.Errorf("%s: %q does not say %q", tc.what, err, n)
			}
		}
	}
}
