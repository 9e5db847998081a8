package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/webui"
)

// EventHub fans every event out to the browsers (server-sent events through
// webui), to a remote syslog server and to a webhook, as the current
// settings say. Publish never blocks: remote delivery runs in Run, behind a
// bounded queue that drops (and counts) what it cannot hold.
type EventHub struct {
	settings func() store.Settings
	log      *slog.Logger
	http     *http.Client
	hostname string
	now      func() time.Time

	mu   sync.Mutex
	subs map[chan webui.Event]struct{}

	queue   chan webui.Event
	Dropped atomic.Uint64 // events not delivered remotely because the queue was full

	failures loginFailureBudget // guarded by mu
}

// EventHubOptions tune an EventHub; zero values are the production setup.
type EventHubOptions struct {
	HTTPClient *http.Client // for the webhook; default: 5 s timeout
	Hostname   string       // syslog HOSTNAME; default os.Hostname
	Now        func() time.Time
	Logger     *slog.Logger
}

const eventQueueLen = 256

// NewEventHub returns a hub that reads the syslog and webhook targets from
// settings at delivery time, so a settings change applies to the next event.
func NewEventHub(settings func() store.Settings, opts EventHubOptions) *EventHub {
	h := &EventHub{settings: settings, log: opts.Logger, http: opts.HTTPClient, hostname: opts.Hostname, now: opts.Now,
		subs: map[chan webui.Event]struct{}{}, queue: make(chan webui.Event, eventQueueLen)}
	if h.log == nil {
		h.log = slog.Default()
	}
	if h.http == nil {
		h.http = &http.Client{Timeout: 5 * time.Second}
	}
	if h.hostname == "" {
		h.hostname, _ = os.Hostname()
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h
}

// Subscribe implements webui.Events.
func (h *EventHub) Subscribe() (<-chan webui.Event, func()) {
	ch := make(chan webui.Event, 32)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			delete(h.subs, ch)
			h.mu.Unlock()
		})
	}
}

// Publish implements webui.Events: it hands the event to every subscriber
// and queues it for syslog and the webhook. Failed logins are rate limited
// first (see loginFailureBudget): a password-guessing run from thousands of
// addresses must not flood the syslog server, the webhook and the queue
// that other events share.
func (h *EventHub) Publish(e webui.Event) {
	if e.Time.IsZero() {
		e.Time = h.now()
	}
	h.mu.Lock()
	if e.Kind == webui.EventLoginFailure {
		pass, summary := h.failures.take(e.Time)
		if summary != nil {
			h.deliverLocked(*summary)
		}
		if !pass {
			h.mu.Unlock()
			return
		}
	}
	h.deliverLocked(e)
	h.mu.Unlock()
}

// flushSuppressed reports failed logins held back since the last one that
// went out, so a burst that stops is still counted somewhere.
func (h *EventHub) flushSuppressed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if summary := h.failures.summary(h.now()); summary != nil {
		h.deliverLocked(*summary)
	}
}

// deliverLocked fans e out; h.mu is held.
func (h *EventHub) deliverLocked(e webui.Event) {
	for ch := range h.subs {
		select {
		case ch <- e:
		default: // a slow reader loses events rather than stalling the box
		}
	}
	select {
	case h.queue <- e:
	default:
		h.Dropped.Add(1)
	}
}

// Run delivers queued events to syslog and the webhook until ctx ends.
func (h *EventHub) Run(ctx context.Context) error {
	flush := time.NewTicker(loginFailureEvery)
	defer flush.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-flush.C:
			h.flushSuppressed()
		case e := <-h.queue:
			s := h.settings()
			if s.Syslog != "" {
				if err := sendSyslog(s.Syslog, h.hostname, e); err != nil {
					h.log.Warn("syslog delivery failed", "server", s.Syslog, "err", err)
				}
			}
			if s.Webhook != "" {
				if err := h.sendWebhook(ctx, s.Webhook, e); err != nil {
					h.log.Warn("webhook delivery failed", "url", s.Webhook, "err", err)
				}
			}
		}
	}
}

func (h *EventHub) sendWebhook(ctx context.Context, url string, e webui.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "rackwall")
	resp, err := h.http.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook answered %s", resp.Status)
	}
	return nil
}

// Syslog severities (RFC 5424 section 6.2.1) and the facility used.
const (
	sevWarning    = 4
	sevNotice     = 5
	sevInfo       = 6
	facilityLocal = 16 // local0
	// sdID names our structured data with the documentation enterprise
	// number of RFC 5612.
	sdID = "rackwall@32473"
	// maxSyslogMsg keeps a datagram well under the 1,500-byte MTU.
	maxSyslogMsg = 1024
)

func severity(kind string) int {
	switch kind {
	case webui.EventQuarantine, webui.EventBypass, webui.EventLoginFailure:
		return sevWarning
	case webui.EventConfig, webui.EventRelease:
		return sevNotice
	}
	return sevInfo
}

// formatSyslog writes one RFC 5424 message.
func formatSyslog(hostname string, e webui.Event) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "<%d>1 %s %s rackwall - %s [%s", facilityLocal*8+severity(e.Kind),
		e.Time.UTC().Format("2006-01-02T15:04:05.000000Z07:00"), syslogToken(hostname, 255), syslogToken(e.Kind, 32), sdID)
	if e.Source != "" {
		fmt.Fprintf(&b, ` source="%s"`, sdEscape(e.Source))
	}
	if e.Actor != "" {
		fmt.Fprintf(&b, ` actor="%s"`, sdEscape(e.Actor))
	}
	b.WriteString("] ")
	msg := e.Message
	if len(msg) > maxSyslogMsg {
		msg = msg[:maxSyslogMsg]
	}
	b.WriteString(msg)
	return []byte(b.String())
}

// syslogToken makes a header field of printable ASCII without spaces, "-" if empty.
func syslogToken(s string, max int) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(out) < max; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// sdEscape escapes a structured-data parameter value (RFC 5424 6.3.3).
func sdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

func sendSyslog(server, hostname string, e webui.Event) error {
	conn, err := net.DialTimeout("udp", server, 2*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write(formatSyslog(hostname, e))
	return err
}
