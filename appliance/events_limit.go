package appliance

import (
	"fmt"
	"time"

	"github.com/rackwall/rackwall/webui"
)

// Failed-login events pass at most loginFailureBurst at once and then one
// per loginFailureEvery. The UI's limiter bounds each client, but a run
// from thousands of addresses would still make thousands of events a
// minute. What is held back is counted and reported in one summary event.
const (
	loginFailureBurst = 10
	loginFailureEvery = 6 * time.Second
)

// loginFailureBudget is a token bucket for failed-login events.
type loginFailureBudget struct {
	tokens     float64
	last       time.Time
	suppressed int
	since      time.Time // first suppressed event
	started    bool
}

// take reports whether a failed login at now may be delivered; when it
// may and some were held back before it, summary reports them first.
func (b *loginFailureBudget) take(now time.Time) (pass bool, summary *webui.Event) {
	if !b.started {
		b.tokens, b.last, b.started = loginFailureBurst, now, true
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(loginFailureBurst, b.tokens+d.Seconds()/loginFailureEvery.Seconds())
		b.last = now
	}
	if b.tokens < 1 {
		if b.suppressed == 0 {
			b.since = now
		}
		b.suppressed++
		return false, nil
	}
	b.tokens--
	return true, b.summary(now)
}

// summary returns the event that reports held-back failures and resets the
// count, or nil when none were held back.
func (b *loginFailureBudget) summary(now time.Time) *webui.Event {
	if b.suppressed == 0 {
		return nil
	}
	e := &webui.Event{Time: now, Kind: webui.EventLoginFailure, Actor: "system",
		Message: fmt.Sprintf("%d more failed logins suppressed since %s", b.suppressed, b.since.UTC().Format(time.RFC3339))}
	b.suppressed = 0
	return e
}
