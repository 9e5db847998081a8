package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/rackwall/rackwall/dataplane"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/appliance/supervise"
)

func TestFlagsRefuseWhatNoRestartFixes(t *testing.T) {
	ok := []string{"--uplink", "eth1", "--rack", "eth2", "--state", "/perm/rackwall", "--dataplane", "/user/rackwall-dataplane"}
	f, err := parseFlags(ok)
	if err != nil {
		t.Fatal(err)
	}
	if f.uplink != "eth1" || f.rack != "eth2" || f.listen != "" || f.plainHTTP {
		t.Fatalf("parsed %+v", f)
	}
	f, err = parseFlags([]string{"--uplink", "a", "--rack", "b", "--state", "s"})
	if err != nil || !strings.HasSuffix(f.dataplane, "/rackwall-dataplane") {
		t.Fatalf("default dataplane %q, %v", f.dataplane, err)
	}
	for _, bad := range [][]string{
		{"--rack", "eth2", "--state", "s"},
		{"--uplink", "eth1", "--rack", "eth1", "--state", "s"},
		{"--uplink", "eth1", "--rack", "eth2"},
		{"--uplink", "eth1", "--rack", "eth2", "--state", "s", "--mgmt", "eth2"},
		{"--uplink", "eth1", "--rack", "eth2", "--state", "s", "--listen", "443"},
		{"--uplink", "eth1", "--rack", "eth2", "--state", "s", "extra"},
		{"--uplink", "eth1", "--rack", "eth2", "--state", "s", "--nonsense"},
	} {
		if _, err := parseFlags(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestMisconfigurationExits125(t *testing.T) {
	if code := run([]string{"--uplink", "eth1"}); code != exitMisconfigured {
		t.Fatalf("exit %d, want %d", code, exitMisconfigured)
	}
}

func TestSlotFromCmdline(t *testing.T) {
	for cmdline, want := range map[string]string{
		"console=ttyS0 root=PARTUUID=60c24cc1-f3f9-427a-8199-2a9d41c70001/PARTNROFF=1 ro init=/gokrazy/init": "a",
		"root=PARTUUID=60c24cc1-f3f9-427a-8199-2a9d41c70001/PARTNROFF=2 ro":                                  "b",
		"root=PARTUUID=2a9d41c7-03 ro": "b",
		"root=/dev/sda2 ro":            "",
		"":                             "",
	} {
		if got := slotFromCmdline(cmdline); got != want {
			t.Errorf("%q: slot %q, want %q", cmdline, got, want)
		}
	}
}

func TestHealthJudgement(t *testing.T) {
	healthy := func() healthReport {
		return healthReport{ConfigLoaded: true, Dataplane: string(supervise.Forwarding), UI: true,
			Ports: []portHealth{{Name: "eth1", Up: true}, {Name: "eth2", Up: true, Carrier: false}}}
	}
	r := healthy()
	r.judge()
	if !r.Healthy {
		t.Fatal("a forwarding box with a cable out is healthy (the cable is not the box's fault)")
	}
	for name, spoil := range map[string]func(*healthReport){
		"bypass":       func(r *healthReport) { r.Dataplane, r.Bypass = string(supervise.Bypass), true },
		"isolated":     func(r *healthReport) { r.Dataplane = string(supervise.Isolated) },
		"starting":     func(r *healthReport) { r.Dataplane = string(supervise.Starting) },
		"no config":    func(r *healthReport) { r.ConfigLoaded = false },
		"no UI":        func(r *healthReport) { r.UI = false },
		"port down":    func(r *healthReport) { r.Ports[1].Up = false },
		"port unknown": func(r *healthReport) { r.Ports[0].Error = "interface eth1: no such device" },
	} {
		r := healthy()
		spoil(&r)
		r.judge()
		if r.Healthy {
			t.Errorf("%s: judged healthy", name)
		}
	}
}

func TestRedirectToHTTPS(t *testing.T) {
	for _, c := range []struct{ port, host, uri, want string }{
		{"443", "192.0.2.7", "/system?x=1", "https://192.0.2.7/system?x=1"},
		{"443", "box.example:80", "/", "https://box.example/"},
		{"8443", "[2001:db8::7]:80", "/login", "https://[2001:db8::7]:8443/login"},
	} {
		req := httptest.NewRequest("GET", c.uri, nil)
		req.Host = c.host
		rec := httptest.NewRecorder()
		redirectHandler(c.port).ServeHTTP(rec, req)
		if rec.Code != http.StatusMovedPermanently || rec.Header().Get("Location") != c.want {
			t.Errorf("%s%s → %d %q, want %q", c.host, c.uri, rec.Code, rec.Header().Get("Location"), c.want)
		}
	}
}

// The dataplane's own exposition, as its --metrics serves it.
const childMetrics = `# HELP rackwall_frames_received_total Frames received on the port.
# TYPE rackwall_frames_received_total counter
rackwall_frames_received_total{port="uplink"} 12
rackwall_frames_received_total{port="rack"} 7
# HELP rackwall_drops_total Frames dropped.
# TYPE rackwall_drops_total counter
rackwall_drops_total{port="rack",reason="frag_tiny_first",rule="F5"} 3
# HELP rackwall_fragment_bytes_held Bytes held.
# TYPE rackwall_fragment_bytes_held gauge
rackwall_fragment_bytes_held 4096
# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 9
# HELP process_resident_memory_bytes Resident memory size in bytes.
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 1.2e+07
`

func TestDataplaneMetricsAreRepublished(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Write([]byte(childMetrics))
	}))
	defer srv.Close()
	url := srv.URL + "/metrics"
	reg := prometheus.NewRegistry()
	reg.MustRegister(&dataplaneCollector{url: func() string { return url }, hc: srv.Client()})
	want := `# HELP rackwall_dataplane_scrape_ok Whether the dataplane's own metrics could be read for this scrape (1) or not (0).
# TYPE rackwall_dataplane_scrape_ok gauge
rackwall_dataplane_scrape_ok 1
# HELP rackwall_drops_total Frames dropped.
# TYPE rackwall_drops_total counter
rackwall_drops_total{port="rack",reason="frag_tiny_first",rule="F5"} 3
# HELP rackwall_fragment_bytes_held Bytes held.
# TYPE rackwall_fragment_bytes_held gauge
rackwall_fragment_bytes_held 4096
# HELP rackwall_frames_received_total Frames received on the port.
# TYPE rackwall_frames_received_total counter
rackwall_frames_received_total{port="rack"} 7
rackwall_frames_received_total{port="uplink"} 12
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	// The child's Go and process series would collide with the appliance's.
	n, err := testutil.GatherAndCount(reg, "go_goroutines", "process_resident_memory_bytes")
	if err != nil || n != 0 {
		t.Fatalf("child runtime series republished: %d, %v", n, err)
	}

	// A dead dataplane is a scrape failure, not an error of /metrics.
	url = "http://127.0.0.1:1/metrics"
	want = `# HELP rackwall_dataplane_scrape_ok Whether the dataplane's own metrics could be read for this scrape (1) or not (0).
# TYPE rackwall_dataplane_scrape_ok gauge
rackwall_dataplane_scrape_ok 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Fatal(err)
	}
}

type fakeBypass struct{ on atomic.Bool }

func (f *fakeBypass) Enable() error  { f.on.Store(true); return nil }
func (f *fakeBypass) Disable() error { f.on.Store(false); return nil }

func TestBypassGauge(t *testing.T) {
	sw := &fakeBypass{}
	sup := supervise.New(supervise.Config{
		// A dataplane that dies at once: the supervisor fails open.
		Command:    func() *exec.Cmd { return exec.Command("/bin/false") },
		Probe:      func(context.Context) error { return errors.New("down") },
		Bypass:     sw,
		FailOpen:   true,
		MinBackoff: time.Hour,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(&stateCollector{sup: sup})
	if v := testutil.ToFloat64(onlyMetric(reg, "rackwall_bypass_active")); v != 0 {
		t.Fatalf("bypass active = %v while starting", v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { sup.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for sup.Status().State != supervise.Bypass && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if v := testutil.ToFloat64(onlyMetric(reg, "rackwall_bypass_active")); v != 1 || !sw.on.Load() {
		t.Fatalf("after the dataplane died: bypass gauge %v, switch on %v", v, sw.on.Load())
	}
	if v := testutil.ToFloat64(onlyMetric(reg, "rackwall_dataplane_restarts_total")); v != 1 {
		t.Fatalf("restarts = %v, want 1", v)
	}
}

// onlyMetric returns a collector yielding only the named metric of reg.
func onlyMetric(reg *prometheus.Registry, name string) prometheus.Collector {
	return filterCollector{reg: reg, name: name}
}

type filterCollector struct {
	reg  *prometheus.Registry
	name string
}

func (f filterCollector) Describe(chan<- *prometheus.Desc) {}

func (f filterCollector) Collect(ch chan<- prometheus.Metric) {
	fams, _ := f.reg.Gather()
	for _, fam := range fams {
		if fam.GetName() != f.name {
			continue
		}
		for _, m := range fam.Metric {
			pm, err := constMetric(fam, m)
			if err == nil {
				ch <- pm
			}
		}
	}
}

func TestRestartNeedsAnAPIToken(t *testing.T) {
	st, _, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "rwt_test-secret"
	sum := sha256.Sum256([]byte(secret))
	if err := st.UpdateCredentials(func(c *store.Credentials) error {
		c.Tokens = append(c.Tokens, store.APIToken{ID: "t1", Name: "ops", Hash: hex.EncodeToString(sum[:])})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := &box{store: st, log: slog.New(slog.NewTextHandler(io.Discard, nil)), child: &child{}}
	for _, c := range []struct {
		auth string
		want int
	}{
		{"", http.StatusUnauthorized},
		{"Bearer rwt_wrong", http.StatusUnauthorized},
		{"Basic " + secret, http.StatusUnauthorized},
		// Authorized, but no dataplane has been started.
		{"Bearer " + secret, http.StatusConflict},
	} {
		req := httptest.NewRequest("POST", "/api/dataplane/restart?kill=1", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		rec := httptest.NewRecorder()
		a.restartHandler(rec, req)
		if rec.Code != c.want {
			t.Errorf("Authorization %q: %d, want %d: %s", c.auth, rec.Code, c.want, rec.Body)
		}
	}
}

// The probe judges a packet loop by its progress as the dataplane
// measured it: fresh progress is alive however long ago anything was
// forwarded and whatever the wall clock did since; progress older than
// loopStale is a stuck loop; no progress at all is a loop that never ran.
func TestLoopsAliveJudgesProgress(t *testing.T) {
	now := time.Now()
	h := dataplane.Health{Running: true}
	h.Ports[0] = dataplane.PortHealth{Name: "eth1", LastProgress: now.Add(-100 * time.Millisecond), ProgressAge: 100 * time.Millisecond}
	h.Ports[1] = dataplane.PortHealth{Name: "eth2", LastProgress: now.Add(-50 * time.Millisecond), ProgressAge: 50 * time.Millisecond}
	if err := loopsAlive(h); err != nil {
		t.Fatalf("fresh loops judged dead: %v", err)
	}

	// A loop busy with a flood that forwards nothing (the rules drop it
	// all) still makes progress.
	busy := h
	busy.Ports[0].LastForwarded = now.Add(-time.Hour)
	if err := loopsAlive(busy); err != nil {
		t.Fatalf("busy loop that forwards nothing judged dead: %v", err)
	}

	// The wall clock stepped a year forward after the dataplane stamped
	// its progress (first NTP sync after boot): the monotonic age decides.
	stepped := h
	stepped.Ports[0].LastProgress = now.AddDate(-1, 0, 0)
	if err := loopsAlive(stepped); err != nil {
		t.Fatalf("a wall-clock step made a healthy loop look stuck: %v", err)
	}

	stuck := h
	stuck.Ports[1].ProgressAge = loopStale + time.Millisecond
	if err := loopsAlive(stuck); err == nil || !strings.Contains(err.Error(), "eth2 stuck") {
		t.Fatalf("stuck loop not caught: %v", err)
	}
	atLimit := h
	atLimit.Ports[1].ProgressAge = loopStale
	if err := loopsAlive(atLimit); err != nil {
		t.Fatalf("a loop exactly at the limit judged dead: %v", err)
	}

	never := h
	never.Ports[0] = dataplane.PortHealth{Name: "eth1"}
	if err := loopsAlive(never); err == nil || !strings.Contains(err.Error(), "not started") {
		t.Fatalf("a loop that never ran judged alive: %v", err)
	}
}
