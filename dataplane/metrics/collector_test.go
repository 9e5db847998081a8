package metrics

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// udpFrame is a valid Ethernet/IPv4/UDP frame (46 bytes) from src, or one
// with a broken header checksum.
func udpFrame(src byte, badSum bool) []byte {
	f := make([]byte, 14+20+8+4)
	copy(f, []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], packet.EtherTypeIPv4)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], 32)
	ip[8], ip[9] = 64, packet.ProtoUDP
	copy(ip[12:], []byte{198, 51, 100, src})
	copy(ip[16:], []byte{192, 0, 2, 10})
	packet.SetIPv4HeaderChecksum(ip)
	if badSum {
		ip[10] ^= 0xff
	}
	binary.BigEndian.PutUint16(f[34+4:], 12)
	return f
}

func runningEngine(t *testing.T) (*dataplane.Engine, *dataplane.MemPort, *dataplane.MemPort) {
	t.Helper()
	up, rack := dataplane.NewMemPort("uplink0"), dataplane.NewMemPort("rack0")
	e, err := dataplane.New(dataplane.Config{UplinkPort: up, RackPort: rack,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e, up, rack
}

func TestCollectorLintsClean(t *testing.T) {
	e, _, _ := runningEngine(t)
	problems, err := testutil.CollectAndLint(NewCollector(e))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s: %s", p.Metric, p.Text)
	}
}

func TestCollectorValues(t *testing.T) {
	e, up, rack := runningEngine(t)
	up.Inject(udpFrame(7, false))
	up.Inject(udpFrame(7, false))
	up.Inject(udpFrame(8, true))
	rack.Inject(udpFrame(9, false))
	k, _ := source.Parse("192.0.2.77")
	if err := e.Quarantine().Quarantine(k, time.Minute, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		s := e.Counters()
		if s.Ports[0].RxFrames == 3 && s.Ports[1].RxFrames == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("frames not counted: %+v", s)
		}
	}
	c := NewCollector(e)
	want := `
# HELP rackwall_frames_received_total Frames received on the port.
# TYPE rackwall_frames_received_total counter
rackwall_frames_received_total{port="rack0"} 1
rackwall_frames_received_total{port="uplink0"} 3
# HELP rackwall_frames_forwarded_total Frames received on the port that passed the policy and were sent out of the other port.
# TYPE rackwall_frames_forwarded_total counter
rackwall_frames_forwarded_total{port="rack0"} 1
rackwall_frames_forwarded_total{port="uplink0"} 2
# HELP rackwall_bytes_received_total Bytes received on the port.
# TYPE rackwall_bytes_received_total counter
rackwall_bytes_received_total{port="rack0"} 46
rackwall_bytes_received_total{port="uplink0"} 138
# HELP rackwall_quarantined_sources Sources quarantined now.
# TYPE rackwall_quarantined_sources gauge
rackwall_quarantined_sources 1
# HELP rackwall_fragment_bytes_held Bytes of fragments held for incomplete datagrams.
# TYPE rackwall_fragment_bytes_held gauge
rackwall_fragment_bytes_held 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"rackwall_frames_received_total", "rackwall_frames_forwarded_total", "rackwall_bytes_received_total",
		"rackwall_quarantined_sources", "rackwall_fragment_bytes_held"); err != nil {
		t.Fatal(err)
	}

	// One drop series per port and reason, labelled with its rule; the
	// broken checksum is counted under H1.
	if n := testutil.CollectAndCount(c, "rackwall_drops_total"); n != 2*(reason.Count-1) {
		t.Fatalf("%d drop series, want %d", n, 2*(reason.Count-1))
	}
	wantDrop := `
# HELP rackwall_drops_total Frames received on the port and dropped, by reason and the POLICY rule it enforces.
# TYPE rackwall_drops_total counter
`
	for _, port := range []string{"rack0", "uplink0"} {
		for _, r := range reason.All() {
			v := "0"
			if port == "uplink0" && r == reason.IPChecksumInvalid {
				v = "1"
			}
			wantDrop += `rackwall_drops_total{port="` + port + `",reason="` + r.String() + `",rule="` + r.Rule() + `"} ` + v + "\n"
		}
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(wantDrop), "rackwall_drops_total"); err != nil {
		t.Fatal(err)
	}
}

// No series is labelled by address or source: only port, reason, rule and
// connection state label anything, so the series count is fixed. The one
// exception is the quarantine info metric, whose series are bounded by its
// slots (TestQuarantineInfoBounded).
func TestNoPerSourceLabels(t *testing.T) {
	e, _, _ := runningEngine(t)
	ch := make(chan *prometheus.Desc, 128)
	NewCollector(e).Describe(ch)
	close(ch)
	allowed := map[string]bool{"port": true, "reason": true, "rule": true, "state": true}
	n := 0
	for d := range ch {
		n++
		s := d.String()
		i := strings.Index(s, "variableLabels: {")
		if i < 0 {
			t.Fatalf("cannot read labels of %s", s)
		}
		labels := s[i+len("variableLabels: {"):]
		labels = labels[:strings.Index(labels, "}")]
		if d == quarantineInfo {
			if labels != "slot,source,kind" {
				t.Errorf("%s has labels %q, want slot,source,kind", s, labels)
			}
			continue
		}
		for _, l := range strings.Split(labels, ",") {
			if l = strings.TrimSpace(l); l != "" && !allowed[l] {
				t.Errorf("%s has label %q", s, l)
			}
		}
	}
	if n < 20 {
		t.Fatalf("only %d metrics described", n)
	}
}
