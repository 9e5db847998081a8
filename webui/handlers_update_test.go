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
	confirmed bool // the context carried a confirmed admin password
	err       error
	floor     int64
}

func (f *fakeUpdater) UpdateInfo() UpdateInfo {
	return UpdateInfo{Slots: []UpdateSlot{{Slot: "a", Version: "1", Running: true}, {Slot: "b"}},
		LastResult: "failed", LastVersion: 2, LastReason: "slot b failed its health check", Floor: f.floor}
}

func (f *fakeUpdater) InstallBundle(ctx context.Context, r io.Reader, downgrade bool) error {
	f.got, _ = io.ReadAll(r)
	f.downgrade = downgrade
	f.confirmed = AdminPasswordConfirmed(ctx)
	return f.err
}

func updateForm(t *testing.T, csrf string, data []byte) (*bytes.Buffer, string) {
	return updateFormDowngrade(t, csrf, false, "", data)
}

// updateFormDowngrade is the form in the order a browser sends the page's
// fields.
func updateFormDowngrade(t *testing.T, csrf string, downgrade bool, password string, data []byte) (*bytes.Buffer, string) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if csrf != "" {
		mw.WriteField("csrf", csrf)
	}
	if downgrade {
		mw.WriteField("allow_downgrade", "1")
	}
	if password != "" {
		mw.WriteField("admin_password", password)
	}
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
	if rec := serve(c, req); rec.Code != http.StatusSeeOther || string(u.got) != "BUNDLE" || u.downgrade {
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

// The update API's guard checks X-Admin-Password with the login's bcrypt
// check: a wrong one is answered at once, a right one reaches the agent as
// a confirmed context, and the header itself never gets past the guard.
func TestGuardAPIAdminPassword(t *testing.T) {
	h := newHarness(t, true)
	var seenConfirmed, seenHeader bool
	calls := 0
	guarded := h.srv.GuardAPI(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		seenConfirmed = AdminPasswordConfirmed(r.Context())
		seenHeader = r.Header.Get(AdminPasswordHeader) != ""
	}))
	c := h.login()
	send := func(password *string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/api/update?allow_downgrade=1", nil)
		req.Header.Set("X-CSRF-Token", c.csrf)
		if password != nil {
			req.Header.Set(AdminPasswordHeader, *password)
		}
		req.AddCookie(c.cookie)
		rec := httptest.NewRecorder()
		guarded.ServeHTTP(rec, req)
		return rec
	}
	if rec := send(nil); rec.Code != 200 || seenConfirmed || calls != 1 {
		t.Fatalf("no password: %d confirmed=%v", rec.Code, seenConfirmed)
	}
	wrong, right, empty := "not the password", testPassword, ""
	events := len(h.fb.events)
	for _, pw := range []*string{&wrong, &empty} {
		if rec := send(pw); rec.Code != http.StatusForbidden || calls != 1 || !strings.Contains(rec.Body.String(), "admin password is wrong") {
			t.Fatalf("password %q: %d %s, agent called %d times", *pw, rec.Code, rec.Body, calls)
		}
	}
	if len(h.fb.events) != events+2 || h.fb.events[len(h.fb.events)-1].Kind != EventLoginFailure {
		t.Fatalf("wrong passwords left no failure event: %+v", h.fb.events[events:])
	}
	if rec := send(&right); rec.Code != 200 || !seenConfirmed || seenHeader || calls != 2 {
		t.Fatalf("right password: %d confirmed=%v header passed on=%v", rec.Code, seenConfirmed, seenHeader)
	}
	// Guessing through the header counts against the login limit.
	var last int
	for i := 0; i < 10; i++ {
		last = send(&wrong).Code
	}
	if last != http.StatusTooManyRequests {
		t.Fatalf("ten wrong passwords in a row: last answer %d, want 429", last)
	}
	if rec := send(&right); rec.Code != http.StatusTooManyRequests || calls != 2 {
		t.Fatalf("right password while limited: %d", rec.Code)
	}
}

// On the page a downgrade needs the admin password in the form, checked
// before the bundle is read; the field comes before the file in the page
// so a browser sends it first.
func TestUpdateFormDowngradeNeedsPassword(t *testing.T) {
	h := newHarness(t, true)
	u := &fakeUpdater{floor: 7}
	page := h.srv.UpdatePage(u)
	c := h.login()
	submit := func(downgrade bool, password string) *httptest.ResponseRecorder {
		body, ct := updateFormDowngrade(t, c.csrf, downgrade, password, []byte("OLD"))
		req := httptest.NewRequest("POST", "/system/update", body)
		req.Header.Set("Content-Type", ct)
		req.AddCookie(c.cookie)
		rec := httptest.NewRecorder()
		page.ServeHTTP(rec, req)
		return rec
	}
	if rec := submit(true, ""); rec.Code != http.StatusForbidden || u.got != nil || !strings.Contains(rec.Body.String(), "needs the admin password") {
		t.Fatalf("downgrade without password: %d, installer saw %q", rec.Code, u.got)
	}
	if rec := submit(true, "wrong password!"); rec.Code != http.StatusForbidden || u.got != nil || !strings.Contains(rec.Body.String(), "admin password is wrong") {
		t.Fatalf("downgrade with a wrong password: %d, installer saw %q", rec.Code, u.got)
	}
	if rec := submit(true, testPassword); rec.Code != http.StatusSeeOther || string(u.got) != "OLD" || !u.downgrade || !u.confirmed {
		t.Fatalf("downgrade with the password: %d, installer saw %q downgrade=%v confirmed=%v", rec.Code, u.got, u.downgrade, u.confirmed)
	}
	req := httptest.NewRequest("GET", "/system/update", nil)
	req.AddCookie(c.cookie)
	rec := httptest.NewRecorder()
	page.ServeHTTP(rec, req)
	html := rec.Body.String()
	pw, file, down := strings.Index(html, `name="admin_password"`), strings.Index(html, `name="bundle"`), strings.Index(html, `name="allow_downgrade"`)
	if pw < 0 || down < 0 || !(down < file && pw < file) {
		t.Fatalf("the downgrade box (%d) and password (%d) must come before the file field (%d)", down, pw, file)
	}
	if !strings.Contains(html, "Minimum version: 7") {
		t.Fatal("the page does not show the version floor")
	}
}
