package webui

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// liveMsg is one server-sent event.
type liveMsg struct {
	name string // SSE event name: "tick" or "event"
	data []byte
}

// liveHub fans the sampler's ticks and the backend's events out to the
// browsers on /events/stream. A slow browser loses messages rather than
// holding anyone up.
type liveHub struct {
	mu   sync.Mutex
	subs map[chan liveMsg]struct{}
}

const maxLiveClients = 64

// liveWriteWait is how long one message of the event stream may take to
// reach the browser.
const liveWriteWait = 30 * time.Second

func (h *liveHub) subscribe() (chan liveMsg, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) >= maxLiveClients {
		return nil, false
	}
	ch := make(chan liveMsg, 16)
	h.subs[ch] = struct{}{}
	return ch, true
}

func (h *liveHub) unsubscribe(ch chan liveMsg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.subs, ch)
}

func (h *liveHub) broadcast(m liveMsg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- m:
		default:
		}
	}
}

// eventRing keeps the last events for the dashboard and /api/events.
type eventRing struct {
	mu     sync.Mutex
	events []Event
}

const keptEvents = 50

func (r *eventRing) add(e Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	if len(r.events) > keptEvents {
		r.events = r.events[len(r.events)-keptEvents:]
	}
}

// list returns the kept events, newest first.
func (r *eventRing) list() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Event, len(r.events))
	for i, e := range r.events {
		out[len(out)-1-i] = e
	}
	return out
}

// Run samples the counters every SampleEvery for the charts and relays the
// backend's events to the live stream until ctx ends.
func (srv *Server) Run(ctx context.Context) error {
	events, cancel := srv.opts.Events.Subscribe()
	defer cancel()
	tick := time.NewTicker(srv.opts.SampleEvery)
	defer tick.Stop()
	srv.sample(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
			srv.sample(ctx)
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			srv.recordEvent(e)
		}
	}
}

func (srv *Server) recordEvent(e Event) {
	srv.recent.add(e)
	data, _ := json.Marshal(e)
	srv.live.broadcast(liveMsg{name: "event", data: data})
}

// sample reads the counters once into the series and tells the browsers.
func (srv *Server) sample(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, srv.opts.SampleEvery)
	defer cancel()
	st, err := srv.opts.Monitor.Status(ctx)
	if err != nil {
		// Say it once per outage, not every few seconds.
		if !srv.sampleFailing {
			srv.log.Warn("webui: cannot read the counters for the charts", "err", err)
		}
		srv.sampleFailing = true
		return
	}
	if srv.sampleFailing {
		srv.log.Info("webui: counters readable again")
		srv.sampleFailing = false
	}
	srv.series.add(sample{t: srv.now(), drops: st.Drops, ports: slices.Clone(st.Ports)})
	srv.live.broadcast(liveMsg{name: "tick", data: []byte(fmt.Sprintf(`{"time":%q}`, srv.now().UTC().Format(time.RFC3339)))})
}

// handleEventStream is GET /events/stream: server-sent events for live.js.
func (srv *Server) handleEventStream(w http.ResponseWriter, r *http.Request, rq *request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch, ok := srv.live.subscribe()
	if !ok {
		http.Error(w, "too many live connections", http.StatusServiceUnavailable)
		return
	}
	defer srv.live.unsubscribe(ch)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	// The stream outlives the server's read and write timeouts: the
	// browser sends nothing after its request, so there is no read
	// deadline, and every message gets a write deadline of its own, so a
	// browser that stops reading is let go.
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, "retry: 5000\n\n")
	fl.Flush()
	keepalive := time.NewTicker(20 * time.Second)
	defer keepalive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case m := <-ch:
			// peek: streaming is not activity, so an open dashboard
			// nobody looks at still goes idle and logs out.
			if s := srv.sessions.peek(r); s == nil || !s.authed() {
				return // logged out or idle meanwhile
			}
			rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", m.name, m.data)
			fl.Flush()
		case <-keepalive.C:
			if s := srv.sessions.peek(r); s == nil || !s.authed() {
				return
			}
			rc.SetWriteDeadline(time.Now().Add(liveWriteWait))
			fmt.Fprintf(w, ": keepalive\n\n")
			fl.Flush()
		}
	}
}
