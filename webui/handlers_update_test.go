package webui

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type fakeUpdater struct {
	got       []byte
	downgrade bool
	err       error
}

func (f *fakeUpdater) UpdateInfo() UpdateInfo {
	return UpdateInfo{Slots: []UpdateSlot{{Slot: "a", Version: "1", Running: true}, {Slot: "b"}},
		LastResult: "failed", LastVersion: 2, LastReason: "slot b failed its health check"}
}

func (f *fakeUpdater) InstallBundle(_ context.Context, r io.Reader, downgrade bool) error {
	f.got, _ = io.ReadAll(r)
	f.downgrade = downgrade
	return f.err
}

func updateForm(t *testing.T, csrf string, data []byte) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if csrf != "" {
		mw.WriteField("csrf", csrf)
	}
	mw.WriteField("allow_downgrade", "1")
	fw, _ := mw.CreateFormFile("bundle", "x.bundle")
	fw.Write(data)
	mw.Close()
	return &buf, mw.FormDataContentType()
}

func TestUpdatePageAndGuard(t *testing.T) {
	h := newHarness(t, true)
	u := &fakeUpdater{}
	mux := http.NewServeMux()
	mux.Handle("/system/update", h.srv.UpdatePage(u))
	mux.Handle("/api/update/", h.srv.GuardAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "agent") })))
	serve := func(c *client, req *http.Request) *httptest.ResponseRecorder {
		if c != nil && c.cookie != nil {
			req.AddCookie(c.cookie)
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	// The API guard: nobody, a session without the CSRF header, a session with it.
	if rec := serve(nil, httptest.NewRequest("POST", "/api/update/x", nil)); rec.Code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", rec.Code)
	}
	c := h.login()
	if rec := serve(c, httptest.NewRequest("POST", "/api/update/x", nil)); rec.Code != http.StatusForbidden {
		t.Fatalf("no CSRF header: %d", rec.Code)
	}
	req := httptest.NewRequest("POST", "/api/update/x", nil)
	req.Header.Set("X-CSRF-Token", c.csrf)
	if rec := serve(c, req); rec.Code != 200 || rec.Body.String() != "agent" {
		t.Fatalf("with CSRF: %d %s", rec.Code, rec.Body)
	}
	// The page.
	rec := serve(c, httptest.NewRequest("GET", "/system/update", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), "slot b failed its health check") || !strings.Contains(rec.Body.String(), `name="bundle"`) {
		t.Fatalf("page: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(nil, httptest.NewRequest("GET", "/system/update", nil)); rec.Code != http.StatusSeeOther {
		t.Fatalf("anonymous page: %d", rec.Code)
	}
	// The upload form needs the CSRF field before the file.
	body, ct := updateForm(t, "", []byte("BUNDLE"))
	req = httptest.NewRequest("POST", "/system/update", body)
	req.Header.Set("Content-Type", ct)
	if rec := serve(c, req); rec.Code != http.StatusForbidden || u.got != nil {
		t.Fatalf("no CSRF: %d, installer saw %q", rec.Code, u.got)
	}
	body, ct = updateForm(t, c.csrf, []byte("BUNDLE"))
	req = httptest.NewRequest("POST", "/system/update", body)
	req.Header.Set("Content-Type", ct)
	if rec := serve(c, req); rec.Code != http.StatusSeeOther || string(u.got) != "BUNDLE" || !u.downgrade {
		t.Fatalf("upload: %d, installer saw %q %v", rec.Code, u.got, u.downgrade)
	}
	// A refusal shows on the page.
	u.err = errors.New("update refused: bad signature")
	body, ct = updateForm(t, c.csrf, []byte("BUNDLE"))
	req = httptest.NewRequest("POST", "/system/update", body)
	req.Header.Set("Content-Type", ct)
	if rec := serve(c, req); rec.Code != http.StatusUnprocessableEntity || !strings.Contains(rec.Body.String(), "bad signature") {
		t.Fatalf("refusal: %d %s", rec.Code, rec.Body)
	}
}
