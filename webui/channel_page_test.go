package webui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type channelUpdater struct{ info UpdateInfo }

func (c channelUpdater) UpdateInfo() UpdateInfo { return c.info }
func (c channelUpdater) InstallBundle(context.Context, io.Reader, bool) error {
	return nil
}

// The update page shows the last channel check: "version N available" in
// notify mode, a refusal with its reason, and the versions the box fell
// back from.
func TestUpdatePageShowsChannel(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	get := func(info UpdateInfo) string {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/system/update", nil)
		req.AddCookie(c.cookie)
		h.srv.UpdatePage(channelUpdater{info}).ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("page: %d", rec.Code)
		}
		return rec.Body.String()
	}
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	page := get(UpdateInfo{Channel: &ChannelInfo{URL: "https://u.example/stable.index", Time: at, Outcome: "available", Version: 7,
		Reason: "version 7 is available (the box only reports it: update_mode is notify)"}, FellBackFrom: []int64{5, 6}})
	for _, want := range []string{"version 7 available", "https://u.example/stable.index", "update_mode is notify", "never installs again: 5, 6"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	page = get(UpdateInfo{Channel: &ChannelInfo{URL: "https://u.example/stable.index", Time: at, Outcome: "refused",
		Reason: "this box is outside the 10 % rollout of version 7"}})
	if !strings.Contains(page, "<strong>refused</strong>") || !strings.Contains(page, "outside the 10 % rollout") {
		t.Errorf("refusal not shown:\n%s", page)
	}
	if page = get(UpdateInfo{}); !strings.Contains(page, "No channel check has run") {
		t.Error("page without a check does not say so")
	}
}
