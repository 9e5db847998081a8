package main

import (
	"net/http"
	"time"
)

// The web server's limits. The UI and API serve a few admins and scripts
// over the management network; nothing legitimate needs more than this,
// and a client that opens connections and then dawdles is cut off before
// it can tie up the box. docs/MANUAL.md, "Security", lists them.
const (
	// uiReadHeaderTimeout: a request's headers arrive at once from any
	// real client.
	uiReadHeaderTimeout = 10 * time.Second
	// uiReadTimeout covers a whole request with its body; the largest
	// ordinary body is a 4 MiB config import.
	uiReadTimeout = time.Minute
	// uiWriteTimeout runs from the end of the request headers to the end
	// of the answer: a login's bcrypt on a slow board, a reboot request,
	// a config export.
	uiWriteTimeout = 2 * time.Minute
	// uiIdleTimeout closes a kept-alive connection nobody uses.
	uiIdleTimeout = 2 * time.Minute

	// uiMaxConns and uiMaxConnsPerClient cap the open connections. A
	// browser opens about six per host plus the live event stream; a
	// client over its cap is closed at once, so one host cannot take the
	// slots of the others.
	uiMaxConns          = 256
	uiMaxConnsPerClient = 32

	// uploadTimeout is the read and write allowance of a bundle upload or
	// fetch: up to 1 GiB over a slow link, then the box writes the slot
	// and reads it back before it answers.
	uploadTimeout = 30 * time.Minute
	// downloadTimeout is the write allowance of a pcapng download (up to
	// 256 MiB of captured frames).
	downloadTimeout = 10 * time.Minute
)

// serverLimits are the timeouts of one listener; tests shorten them.
type serverLimits struct {
	readHeader, read, write, idle time.Duration
	upload, download              time.Duration
}

var uiLimits = serverLimits{
	readHeader: uiReadHeaderTimeout, read: uiReadTimeout, write: uiWriteTimeout, idle: uiIdleTimeout,
	upload: uploadTimeout, download: downloadTimeout,
}

// newHTTPServer is the http.Server for h with the limits; requests that
// legitimately take long get their deadlines extended per route.
func newHTTPServer(h http.Handler, lim serverLimits) *http.Server {
	return &http.Server{
		Handler:           lim.extendDeadlines(h),
		ReadHeaderTimeout: lim.readHeader,
		ReadTimeout:       lim.read,
		WriteTimeout:      lim.write,
		IdleTimeout:       lim.idle,
	}
}

// extendDeadlines gives the routes that move a bundle or a capture the
// time they need; every other route keeps the server's deadlines. The
// live event stream (/events/stream) manages its own: it clears the read
// deadline and sets a write deadline before every message.
func (lim serverLimits) extendDeadlines(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		read, write := lim.longRoute(r)
		if read > 0 || write > 0 {
			// Without a ResponseController the request keeps the server's
			// deadlines and fails visibly if it needs more.
			rc := http.NewResponseController(w)
			now := time.Now()
			if read > 0 {
				rc.SetReadDeadline(now.Add(read))
			}
			if write > 0 {
				rc.SetWriteDeadline(now.Add(write))
			}
		}
		h.ServeHTTP(w, r)
	})
}

// longRoute is the read and write allowance of r's route; zero keeps the
// server's timeout.
func (lim serverLimits) longRoute(r *http.Request) (read, write time.Duration) {
	switch {
	case r.Method == http.MethodPost && (r.URL.Path == "/api/update" || r.URL.Path == "/system/update"):
		return lim.upload, lim.upload
	case r.Method == http.MethodPost && r.URL.Path == "/api/update/fetch":
		return 0, lim.upload
	case r.Method == http.MethodGet && (r.URL.Path == "/capture.pcapng" || r.URL.Path == "/api/capture.pcapng"):
		return 0, lim.download
	}
	return 0, 0
}
