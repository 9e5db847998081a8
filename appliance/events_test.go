package appliance

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/webui"
)

// rfc5424 matches HEADER SP STRUCTURED-DATA SP MSG as formatSyslog writes it.
var rfc5424 = regexp.MustCompile(`^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z) (\S+) rackwall - (\S+) \[rackwall@32473((?: [a-z]+="(?:[^"\\\]]|\\["\\\]])*")*)\] (.*)$`)

func TestSyslogFormat(t *testing.T) {
	e := webui.Event{Time: time.Date(2026, 11, 25, 12, 0, 0, 5000, time.UTC), Kind: webui.EventQuarantine,
		Source: "10.0.0.1", Actor: `ev"il]\`, Message: "10.0.0.1 quarantined"}
	msg := string(formatSyslog("box 1", e))
	m := rfc5424.FindStringSubmatch(msg)
	if m == nil {
		t.Fatalf("not RFC 5424: %q", msg)
	}
	if m[1] != "132" || m[2] != "2026-11-25T12:00:00.000005Z" || m[3] != "box1" || m[4] != "quarantine" || m[6] != "10.0.0.1 quarantined" {
		t.Fatalf("fields %q", m[1:])
	}
	if !strings.Contains(m[5], `actor="ev\"il\]\\"`) {
		t.Fatalf("structured data not escaped: %s", m[5])
	}
	long := formatSyslog("h", webui.Event{Kind: "config", Message: strings.Repeat("x", 5000)})
	if len(long) > maxSyslogMsg+200 {
		t.Fatalf("message of %d bytes", len(long))
	}
}

func TestEventHubDeliversToSyslogWebhookAndSubscribers(t *testing.T) {
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening on UDP loopback: %v", err)
	}
	defer udp.Close()
	hooked := make(chan webui.Event, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var e webui.Event
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&e) != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		hooked <- e
	}))
	defer hook.Close()

	settings := store.DefaultSettings()
	settings.Syslog = udp.LocalAddr().String()
	settings.Webhook = hook.URL
	hub := NewEventHub(func() store.Settings { return settings }, EventHubOptions{Hostname: "rw", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	sub, cancelSub := hub.Subscribe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go hub.Run(ctx)

	hub.Publish(webui.Event{Kind: webui.EventBypass, Message: "bypass engaged"})
	select {
	case e := <-sub:
		if e.Message != "bypass engaged" || e.Time.IsZero() {
			t.Fatalf("subscriber got %+v", e)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("subscriber got nothing")
	}
	udp.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 2048)
	n, _, err := udp.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if m := rfc5424.FindStringSubmatch(string(buf[:n])); m == nil || m[4] != "bypass" || m[6] != "bypass engaged" {
		t.Fatalf("syslog got %q", buf[:n])
	}
	select {
	case e := <-hooked:
		if e.Kind != webui.EventBypass || e.Message != "bypass engaged" {
			t.Fatalf("webhook got %+v", e)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("webhook got nothing")
	}
	// After cancel the subscriber hears no more.
	cancelSub()
	hub.Publish(webui.Event{Kind: webui.EventConfig, Message: "later"})
	select {
	case e := <-sub:
		t.Fatalf("cancelled subscriber got %+v", e)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestEventHubNeverBlocks(t *testing.T) {
	hub := NewEventHub(func() store.Settings { return store.DefaultSettings() }, EventHubOptions{})
	hub.Subscribe() // a subscriber that never reads
	done := make(chan struct{})
	go func() {
		for i := 0; i < eventQueueLen*3; i++ {
			hub.Publish(webui.Event{Kind: webui.EventConfig, Message: "x"})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Publish blocked")
	}
	if hub.Dropped.Load() != uint64(eventQueueLen*2) {
		t.Fatalf("dropped %d", hub.Dropped.Load())
	}
}

// A password-guessing run from many addresses makes a bounded number of
// events for syslog and the webhook; the rest are counted in a summary,
// and other events still get through.
func TestFailedLoginEventsAreRateLimited(t *testing.T) {
	clock := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	hub := NewEventHub(store.DefaultSettings, EventHubOptions{Hostname: "rw", Now: func() time.Time { return clock },
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	queued := func() []webui.Event {
		var out []webui.Event
		for {
			select {
			case e := <-hub.queue:
				out = append(out, e)
			default:
				return out
			}
		}
	}
	for i := 0; i < 1000; i++ {
		hub.Publish(webui.Event{Kind: webui.EventLoginFailure, Source: "10.0.0.1", Message: "failed login"})
		if i == 500 {
			hub.Publish(webui.Event{Kind: webui.EventQuarantine, Message: "10.0.0.9 quarantined"})
		}
	}
	got := queued()
	failures, others := 0, 0
	for _, e := range got {
		if e.Kind == webui.EventLoginFailure {
			failures++
		} else {
			others++
		}
	}
	if failures != loginFailureBurst || others != 1 {
		t.Fatalf("queued %d failed logins and %d other events, want %d and 1", failures, others, loginFailureBurst)
	}
	// One interval later the next failure goes out, after a summary of
	// what was held back.
	clock = clock.Add(loginFailureEvery)
	hub.Publish(webui.Event{Kind: webui.EventLoginFailure, Source: "10.0.0.2", Message: "failed login"})
	got = queued()
	if len(got) != 2 || got[0].Message != "990 more failed logins suppressed since 2026-11-25T12:00:00Z" || got[1].Source != "10.0.0.2" {
		t.Fatalf("after an interval: %+v", got)
	}
	// A burst that stops is reported by the periodic flush.
	for i := 0; i < 3; i++ {
		hub.Publish(webui.Event{Kind: webui.EventLoginFailure, Message: "failed login"})
	}
	if got = queued(); len(got) != 0 {
		t.Fatalf("over budget, still queued %+v", got)
	}
	hub.flushSuppressed()
	if got = queued(); len(got) != 1 || !strings.HasPrefix(got[0].Message, "3 more failed logins suppressed") {
		t.Fatalf("flush: %+v", got)
	}
	hub.flushSuppressed()
	if got = queued(); len(got) != 0 {
		t.Fatalf("an empty flush queued %+v", got)
	}
}
