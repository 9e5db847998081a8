package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/capture"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/dataplane/source"
)

// maxBodyBytes bounds a request body; rules and policy files are small.
const maxBodyBytes = 1 << 20

// Server serves the control API for one engine.
type Server struct {
	e   *dataplane.Engine
	log *slog.Logger
	mux *http.ServeMux
	ln  net.Listener
	now func() time.Time
}

// NewServer returns a server for e; log gets one line per change made
// through the API.
func NewServer(e *dataplane.Engine, log *slog.Logger) *Server {
	if log == nil {
		log = slog.Default()
	}
	s := &Server{e: e, log: log, mux: http.NewServeMux(), now: time.Now}
	s.mux.HandleFunc("GET /status", s.status)
	s.mux.HandleFunc("GET /sources", s.sources)
	s.mux.HandleFunc("GET /sources/{key...}", s.source)
	s.mux.HandleFunc("GET /quarantine", s.quarantined)
	s.mux.HandleFunc("POST /quarantine", s.quarantine)
	s.mux.HandleFunc("DELETE /quarantine/{key...}", s.release)
	s.mux.HandleFunc("GET /capture.pcapng", s.capture)
	s.mux.HandleFunc("GET /events", s.events)
	s.mux.HandleFunc("PUT /rules", s.putRules)
	s.mux.HandleFunc("PUT /policy", s.putPolicy)
	return s
}

// Handler is the API as an http.Handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Listen opens the unix socket at path, replacing a stale socket file left
// by an earlier run. Only the owner may connect, from the moment the
// socket exists.
func (s *Server) Listen(path string) error {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		if c, err := net.Dial("unix", path); err == nil {
			c.Close()
			return fmt.Errorf("control: %s is in use by another process", path)
		}
		os.Remove(path)
	}
	ln, err := listenOwnerOnly(path)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// umaskMu serializes the umask changes of listenOwnerOnly: the umask
// belongs to the whole process.
var umaskMu sync.Mutex

// listenOwnerOnly binds a unix socket that is created with mode 0600. A
// chmod after the bind would leave a moment in which anybody on the
// machine could connect and be accepted; with the umask in place during
// the bind there is no such moment.
func listenOwnerOnly(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}

// Serve answers requests on the socket opened by Listen until ctx ends.
func (s *Server) Serve(ctx context.Context) error {
	if s.ln == nil {
		return errors.New("control: Serve before Listen")
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	s.log.Info("control socket listening", "path", s.ln.Addr().String())
	err := srv.Serve(s.ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, errorBody{Error: err.Error()})
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	pol := s.e.Policy()
	writeJSON(w, http.StatusOK, Status{
		Counters:       s.e.Counters(),
		Health:         s.e.Health(),
		Fragments:      fragmentStats(s.e.FragStats()),
		Filter:         filterStats(s.e.FilterStats()),
		Quarantined:    s.e.Quarantine().NumQuarantined(),
		TrackedSources: s.e.Quarantine().Len(),
		Policy:         pol.Format(),
	})
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	top := 20
	if v := r.URL.Query().Get("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, fmt.Errorf("top=%q: want a number from 1 to 10000", v))
			return
		}
		top = n
	}
	list := s.e.Quarantine().Top(top, s.now())
	out := make([]Source, 0, len(list))
	for _, st := range list {
		out = append(out, sourceOf(st))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) source(w http.ResponseWriter, r *http.Request) {
	k, err := source.Parse(r.PathValue("key"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	st, evs, ok := s.e.Quarantine().Source(k, s.now())
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Errorf("source %s is not tracked", k))
		return
	}
	out := sourceOf(st)
	out.Events = eventsOf(evs)
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) quarantined(w http.ResponseWriter, r *http.Request) {
	list := s.e.Quarantine().Quarantined(s.now())
	out := make([]QuarantineEntry, 0, len(list))
	for _, e := range list {
		out = append(out, entryOf(e))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) quarantine(w http.ResponseWriter, r *http.Request) {
	var req QuarantineRequest
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("request body: %w", err))
		return
	}
	k, err := source.Parse(req.Source)
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	d, err := time.ParseDuration(req.Duration)
	if err != nil {
		writeError(w, http.StatusBadRequest, fmt.Errorf("duration %q: %w", req.Duration, err))
		return
	}
	if req.By == "" {
		writeError(w, http.StatusBadRequest, errors.New("by: name who quarantines the source"))
		return
	}
	if err := s.e.Quarantine().Quarantine(k, d, req.By, s.now()); err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.log.Info("quarantined by hand", "source", k.String(), "duration", d, "by", req.By)
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) release(w http.ResponseWriter, r *http.Request) {
	k, err := source.Parse(r.PathValue("key"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	by := r.URL.Query().Get("by")
	if by == "" {
		writeError(w, http.StatusBadRequest, errors.New("by: name who releases the source"))
		return
	}
	if err := s.e.Quarantine().Release(k, by, s.now()); err != nil {
		code := http.StatusBadRequest
		if errors.Is(err, quarantine.ErrNotQuarantined) {
			code = http.StatusNotFound
		}
		writeError(w, code, err)
		return
	}
	s.log.Info("released by hand", "source", k.String(), "by", by)
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) capture(w http.ResponseWriter, r *http.Request) {
	f, err := captureFilter(r.URL.Query().Get("reason"), r.URL.Query().Get("source"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return
	}
	w.Header().Set("Content-Type", "application/vnd.tcpdump.pcap")
	w.Header().Set("Content-Disposition", `attachment; filename="rackwall-drops.pcapng"`)
	if _, err := s.e.Capture().WritePcapNG(w, f); err != nil {
		s.log.Warn("capture download cut short", "err", err)
	}
}

// captureFilter turns the query parameters into a capture filter.
func captureFilter(reasonName, src string) (capture.Filter, error) {
	var f capture.Filter
	if reasonName != "" {
		rr, ok := reason.Parse(reasonName)
		if !ok || rr == reason.None {
			return f, fmt.Errorf("reason %q is not a drop reason", reasonName)
		}
		f.Reason = rr
	}
	if src != "" {
		k, err := source.Parse(src)
		if err != nil {
			return f, err
		}
		f.Source = &k
	}
	return f, nil
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if v := r.URL.Query().Get("since"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeError(w, http.StatusBadRequest, fmt.Errorf("since=%q: want an event number", v))
			return
		}
		since = n
	}
	writeJSON(w, http.StatusOK, eventsOf(s.e.Quarantine().Events(since)))
}

func readText(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		writeError(w, http.StatusBadRequest, err)
		return nil, false
	}
	if len(b) > maxBodyBytes {
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Errorf("body over %d bytes", maxBodyBytes))
		return nil, false
	}
	return b, true
}

func (s *Server) putRules(w http.ResponseWriter, r *http.Request) {
	b, ok := readText(w, r)
	if !ok {
		return
	}
	rs, err := rules.Parse(string(b))
	if err != nil {
		s.log.Warn("rules refused, running rules kept", "err", err)
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.e.LoadRules(rs)
	s.log.Info("rules replaced through the control socket")
	writeJSON(w, http.StatusOK, struct{}{})
}

func (s *Server) putPolicy(w http.ResponseWriter, r *http.Request) {
	b, ok := readText(w, r)
	if !ok {
		return
	}
	p, err := config.Parse(b)
	if err != nil {
		s.log.Warn("policy refused, running policy kept", "err", err)
		writeError(w, http.StatusBadRequest, err)
		return
	}
	s.e.SetPolicy(&p)
	s.log.Info("policy replaced through the control socket")
	writeJSON(w, http.StatusOK, struct{}{})
}
