package webui

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The event stream outlives the server's read and write timeouts, which
// end every other request: served with timeouts of 300 ms, an event sent
// a second after the stream opened still reaches the browser.
func TestEventStreamOutlivesServerTimeouts(t *testing.T) {
	h := newHarness(t, true)
	c := h.login()
	ts := httptest.NewUnstartedServer(h.srv)
	ts.Config.ReadTimeout = 300 * time.Millisecond
	ts.Config.WriteTimeout = 300 * time.Millisecond
	ts.Start()
	defer ts.Close()

	req, _ := http.NewRequest("GET", ts.URL+"/events/stream", nil)
	req.AddCookie(c.cookie)
	resp, err := ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()

	time.Sleep(time.Second) // past both timeouts
	h.srv.recordEvent(Event{Time: h.clock.now(), Kind: EventQuarantine, Message: "late event"})
	deadline := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended at the server's timeouts")
			}
			if strings.Contains(l, "late event") {
				return
			}
		case <-deadline:
			t.Fatal("the event sent after the timeouts never arrived")
		}
	}
}
