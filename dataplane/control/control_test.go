package control

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/packet"
)

// rig is a running engine on in-memory ports with the API in front of it.
type rig struct {
	e        *dataplane.Engine
	up, rack *dataplane.MemPort
	c        *Client
}

func newRig(t *testing.T) *rig {
	t.Helper()
	up, rack := dataplane.NewMemPort("uplink0"), dataplane.NewMemPort("rack0")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	e, err := dataplane.New(dataplane.Config{UplinkPort: up, RackPort: rack, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	ts := httptest.NewServer(NewServer(e, log).Handler())
	t.Cleanup(func() { ts.Close(); cancel(); <-done })
	return &rig{e: e, up: up, rack: rack, c: NewClient(ts.Client(), ts.URL)}
}

// udpFrame is a valid Ethernet/IPv4/UDP frame from src; badSum breaks its
// IPv4 header checksum so the engine drops it as ip_checksum_invalid.
func udpFrame(src [4]byte, badSum bool) []byte {
	f := make([]byte, 14+20+8+4)
	copy(f[0:], []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv4)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 32)
	ip[8], ip[9] = 64, packet.ProtoUDP
	copy(ip[12:], src[:])
	copy(ip[16:], []byte{192, 0, 2, 10})
	packet.SetIPv4HeaderChecksum(ip)
	if badSum {
		ip[10] ^= 0xff
	}
	udp := f[34:]
	binary.BigEndian.PutUint16(udp[0:], 1000)
	binary.BigEndian.PutUint16(udp[2:], 53)
	binary.BigEndian.PutUint16(udp[4:], 12)
	return f
}

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestStatusReportsCountersAndPolicy(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	r.up.Inject(udpFrame([4]byte{198, 51, 100, 7}, false))
	r.up.Inject(udpFrame([4]byte{198, 51, 100, 8}, true))
	waitFor(t, "two frames counted", func() bool { return r.e.Counters().Ports[dataplane.Uplink].RxFrames == 2 })

	st, err := r.c.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	up := st.Counters.Ports[dataplane.Uplink]
	if up.Name != "uplink0" || up.RxFrames != 2 || up.Forwarded != 1 || up.Drops["ip_checksum_invalid"] != 1 {
		t.Fatalf("uplink counters %+v", up)
	}
	if up.TotalDrops() != 1 {
		t.Fatalf("DropsByReason not rebuilt by the client: %v", up.DropsByReason)
	}
	if !st.Health.Running || !st.Health.Ports[0].LinkUp {
		t.Fatalf("health %+v", st.Health)
	}
	if !strings.Contains(st.Policy, "quarantine_threshold") || st.Filter.Capacity == 0 || st.Fragments.Budget == 0 {
		t.Fatalf("status misses policy or stage state: %+v", st)
	}
}

func TestQuarantineByHandAndRelease(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.c.Quarantine(ctx, "198.51.100.66", 10*time.Minute, "alice"); err != nil {
		t.Fatal(err)
	}
	list, err := r.c.Quarantined(ctx)
	if err != nil || len(list) != 1 || list[0].Source != "198.51.100.66" || list[0].By != "alice" {
		t.Fatalf("quarantined = %+v, %v", list, err)
	}
	// Its frames are now dropped at the first step.
	r.up.Inject(udpFrame([4]byte{198, 51, 100, 66}, false))
	waitFor(t, "quarantined drop", func() bool {
		return r.e.Counters().Ports[dataplane.Uplink].Drops["quarantined"] == 1
	})
	src, err := r.c.Source(ctx, "198.51.100.66")
	if err != nil || !src.Quarantined || src.Drops["quarantined"] != 1 || len(src.Events) != 1 {
		t.Fatalf("source = %+v, %v", src, err)
	}
	evs, err := r.c.Events(ctx, 0)
	if err != nil || len(evs) != 1 || evs[0].Kind != "quarantine" || evs[0].Source != "198.51.100.66" {
		t.Fatalf("events = %+v, %v", evs, err)
	}
	if err := r.c.Release(ctx, "198.51.100.66", "bob"); err != nil {
		t.Fatal(err)
	}
	if list, _ := r.c.Quarantined(ctx); len(list) != 0 {
		t.Fatalf("still quarantined: %+v", list)
	}
	if evs, _ := r.c.Events(ctx, evs[0].Seq); len(evs) != 1 || evs[0].By != "bob" {
		t.Fatalf("release event %+v", evs)
	}
	var apiErr *APIError
	if err := r.c.Release(ctx, "198.51.100.66", "bob"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("second release: %v", err)
	}
}

func TestBadRequestsRefused(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	var apiErr *APIError
	for name, err := range map[string]error{
		"bad source":   r.c.Quarantine(ctx, "not-an-address", time.Minute, "alice"),
		"bad duration": r.c.Quarantine(ctx, "192.0.2.1", -time.Minute, "alice"),
		"no by":        r.c.Quarantine(ctx, "192.0.2.1", time.Minute, ""),
		"release no by": func() error {
			return r.c.Release(ctx, "192.0.2.1", "")
		}(),
	} {
		if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
			t.Errorf("%s: got %v, want a 400", name, err)
		}
	}
	if _, err := r.c.Source(ctx, "192.0.2.99"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("untracked source: %v", err)
	}
	if _, err := r.c.Sources(ctx, 0); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("top=0: %v", err)
	}
	if _, err := r.c.Capture(ctx, io.Discard, "no_such_reason", ""); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Errorf("unknown reason: %v", err)
	}
}

func TestPutRulesAndPolicyKeepRunningOnError(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	gen := r.e.FilterStats().Generation

	err := r.c.PutRules(ctx, "pass in proto tcp\nblock in from nowhere\n")
	var apiErr *APIError
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "line 2, column") {
		t.Fatalf("bad rules: %v", err)
	}
	if r.e.FilterStats().Generation != gen {
		t.Fatal("bad rules replaced the running rules")
	}
	if err := r.c.PutRules(ctx, "block in proto udp to any port 53\n"); err != nil {
		t.Fatal(err)
	}
	if r.e.FilterStats().Generation != gen+1 {
		t.Fatal("good rules not loaded")
	}
	r.up.Inject(udpFrame([4]byte{198, 51, 100, 7}, false))
	waitFor(t, "rule drop", func() bool {
		return r.e.Counters().Ports[dataplane.Uplink].Drops["filter_blocked"] == 1
	})

	err = r.c.PutPolicy(ctx, "min_ttl: 5\nquarantine_time: soon\n")
	if !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest || !strings.Contains(apiErr.Message, "line 2, column") {
		t.Fatalf("bad policy: %v", err)
	}
	if r.e.Policy().MinTTL != 0 {
		t.Fatal("bad policy changed the running policy")
	}
	if err := r.c.PutPolicy(ctx, "min_ttl: 5\n"); err != nil {
		t.Fatal(err)
	}
	if r.e.Policy().MinTTL != 5 {
		t.Fatal("good policy not installed")
	}
}

func TestSourcesAndCapture(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	for range 3 {
		r.up.Inject(udpFrame([4]byte{198, 51, 100, 9}, true))
	}
	r.up.Inject(udpFrame([4]byte{198, 51, 100, 10}, true))
	waitFor(t, "four drops", func() bool { return r.e.Counters().Ports[dataplane.Uplink].TotalDrops() == 4 })

	top, err := r.c.Sources(ctx, 1)
	if err != nil || len(top) != 1 || top[0].Source != "198.51.100.9" || top[0].Violations != 3 {
		t.Fatalf("top sources = %+v, %v", top, err)
	}
	var all, one bytes.Buffer
	if _, err := r.c.Capture(ctx, &all, "", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := r.c.Capture(ctx, &one, "ip_checksum_invalid", "198.51.100.10"); err != nil {
		t.Fatal(err)
	}
	// pcapng section header block magic.
	for _, b := range []*bytes.Buffer{&all, &one} {
		if b.Len() < 4 || binary.LittleEndian.Uint32(b.Bytes()) != 0x0a0d0d0a {
			t.Fatalf("capture is not pcapng: %x", b.Bytes()[:min(b.Len(), 16)])
		}
	}
	if one.Len() >= all.Len() {
		t.Fatalf("filtered capture (%d bytes) not smaller than the whole (%d)", one.Len(), all.Len())
	}
}

func TestDialOverUnixSocket(t *testing.T) {
	up, rack := dataplane.NewMemPort("u"), dataplane.NewMemPort("r")
	e, err := dataplane.New(dataplane.Config{UplinkPort: up, RackPort: rack})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "control.sock")
	srv := NewServer(e, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err := srv.Listen(path); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx) }()
	st, err := Dial(path).Status(context.Background())
	if err != nil || st.Counters.Ports[1].Name != "r" {
		t.Fatalf("status over the socket: %+v, %v", st, err)
	}
	// A second server on a live socket is refused rather than stealing it.
	if err := NewServer(e, nil).Listen(path); err == nil {
		t.Fatal("second Listen on a live socket succeeded")
	}
	cancel()
	if err := <-served; err != nil {
		t.Fatalf("Serve returned %v", err)
	}
}
