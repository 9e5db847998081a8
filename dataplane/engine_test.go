package dataplane

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/dataplane/source"
)

// testEngine returns an engine over two in-memory ports.
func testEngine(t testing.TB, pol *config.Policy, rs *rules.RuleSet) (*Engine, *MemPort, *MemPort) {
	t.Helper()
	up, rack := NewMemPort("uplink0"), NewMemPort("rack0")
	e, err := New(Config{Policy: pol, Rules: rs, UplinkPort: up, RackPort: rack,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return e, up, rack
}

// pumpAll runs both queues of the one worker once, as it would after Wait.
func pumpAll(e *Engine) {
	e.workers[0].pump(Uplink)
	e.workers[0].pump(Rack)
}

func sameFrames(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: frame %d differs:\n got %x\nwant %x", what, i, got[i], want[i])
		}
	}
}

func TestForwardsBothWaysExactlyOnce(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	var toRack, toUplink [][]byte
	for i := range 50 {
		f := udp4Frame("198.51.100.7", "192.0.2.10", uint16(1000+i), 53, bytes.Repeat([]byte{byte(i)}, i))
		toRack = append(toRack, f)
		up.Inject(f)
		g := udp4Frame("192.0.2.10", "198.51.100.7", 53, uint16(1000+i), []byte("reply"))
		toUplink = append(toUplink, g)
		rack.Inject(g)
	}
	arp := arpFrame()
	rack.Inject(arp)
	toUplink = append(toUplink, arp)
	pumpAll(e)
	pumpAll(e) // nothing left: nothing more may come out
	sameFrames(t, "uplink→rack", rack.Sent(), toRack)
	sameFrames(t, "rack→uplink", up.Sent(), toUplink)

	s := e.Counters()
	if u := s.Ports[Uplink]; u.RxFrames != 50 || u.Forwarded != 50 || u.TxFrames != 51 || u.TotalDrops() != 0 {
		t.Fatalf("uplink counters %+v", u)
	}
	if r := s.Ports[Rack]; r.RxFrames != 51 || r.Forwarded != 51 || r.TxFrames != 50 {
		t.Fatalf("rack counters %+v", r)
	}
	if h := e.Health(); !h.Ports[Uplink].LinkUp || h.Ports[Uplink].LastForwarded.IsZero() {
		t.Fatalf("health %+v", h)
	}
}

func TestDropsCountedPerReasonAndPort(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)

	badSum := udp4Frame("198.51.100.7", "192.0.2.10", 1, 2, nil)
	badSum[14+10] ^= 0xff // IPv4 header checksum
	blocked := ethHeader(macUplink, macRack, 0x88b5)
	blocked = append(blocked, make([]byte, 46)...)
	synFin := tcp4Frame("192.0.2.10", "198.51.100.7", 1234, 80, packet.TCPFlagSYN|packet.TCPFlagFIN)
	martian := udp4Frame("127.0.0.1", "192.0.2.10", 1, 2, nil)

	up.Inject(badSum)
	up.Inject(blocked)
	up.Inject(martian)
	rack.Inject(synFin)
	rack.Inject(blocked)
	pumpAll(e)

	if n := len(up.Sent()) + len(rack.Sent()); n != 0 {
		t.Fatalf("%d bad frames were forwarded", n)
	}
	s := e.Counters()
	want := map[uint8]map[reason.Reason]uint64{
		Uplink: {reason.IPChecksumInvalid: 1, reason.EthertypeBlocked: 1, reason.MartianSource: 1},
		Rack:   {reason.TCPFlagsInvalid: 1, reason.EthertypeBlocked: 1},
	}
	for port, reasons := range want {
		for _, r := range reason.All() {
			if got := s.Ports[port].DropsByReason[r]; got != reasons[r] {
				t.Errorf("port %d %s: %d drops, want %d", port, r, got, reasons[r])
			}
		}
	}
	if s.Ports[Uplink].Drops["ip_checksum_invalid"] != 1 {
		t.Errorf("drops by name %v", s.Ports[Uplink].Drops)
	}
	// Every drop is charged to its source.
	k, _ := source.Parse("192.0.2.10")
	st, _, ok := e.Quarantine().Source(k, time.Now())
	if !ok || st.Counts[reason.TCPFlagsInvalid] != 1 {
		t.Fatalf("source 192.0.2.10 not charged: %+v", st)
	}
}

func TestQuarantinedSourceDroppedFirst(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	k, _ := source.Parse("198.51.100.66")
	if err := e.Quarantine().Quarantine(k, time.Minute, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	good := udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, []byte("x"))
	broken := udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, []byte("x"))
	broken[14+10] ^= 0xff // would be ip_checksum_invalid, but quarantine comes first
	other := udp4Frame("198.51.100.67", "192.0.2.10", 1, 2, []byte("x"))
	up.Inject(good)
	up.Inject(broken)
	up.Inject(other)
	pumpAll(e)
	sameFrames(t, "uplink→rack", rack.Sent(), [][]byte{other})
	d := e.Counters().Ports[Uplink].DropsByReason
	if d[reason.Quarantined] != 2 || d[reason.IPChecksumInvalid] != 0 {
		t.Fatalf("quarantined %d, checksum %d; want 2 and 0", d[reason.Quarantined], d[reason.IPChecksumInvalid])
	}
}

func TestFragmentsHeldThenReleasedInOrder(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	payload := make([]byte, 2000)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	frags := udp4Fragments("198.51.100.7", "192.0.2.10", 77, payload, 808)
	if len(frags) != 3 {
		t.Fatalf("built %d fragments", len(frags))
	}
	// Out of order: last, first; nothing may leave yet.
	up.Inject(frags[2])
	up.Inject(frags[0])
	pumpAll(e)
	if got := rack.Sent(); len(got) != 0 {
		t.Fatalf("%d fragments left before the datagram was complete", len(got))
	}
	if fs := e.FragStats(); fs.DatagramsHeld != 1 || fs.FragmentsHeld != 2 {
		t.Fatalf("frag stats %+v", fs)
	}
	up.Inject(frags[1])
	pumpAll(e)
	sameFrames(t, "released fragments", rack.Sent(), frags)
	if s := e.Counters().Ports[Uplink]; s.Forwarded != 3 || s.TotalDrops() != 0 {
		t.Fatalf("uplink counters %+v", s)
	}
}

func TestOverlappingFragmentsDropped(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	frags := udp4Fragments("198.51.100.7", "192.0.2.10", 78, make([]byte, 2000), 808)
	evil := bytes.Clone(frags[1])
	evil[len(evil)-1] ^= 0xff // same offset, different bytes: F4
	up.Inject(frags[0])
	up.Inject(frags[1])
	up.Inject(evil)
	up.Inject(frags[2])
	pumpAll(e)
	if got := rack.Sent(); len(got) != 0 {
		t.Fatalf("%d fragments of an overlapping datagram left", len(got))
	}
	d := e.Counters().Ports[Uplink]
	if d.DropsByReason[reason.FragOverlap] == 0 || d.Forwarded != 0 {
		t.Fatalf("drops %v forwarded %d", d.Drops, d.Forwarded)
	}
}

func TestRulesBlockAndReload(t *testing.T) {
	rs, err := rules.Parse("block in proto udp to any port 9\n")
	if err != nil {
		t.Fatal(err)
	}
	e, up, rack := testEngine(t, nil, rs)
	up.Inject(udp4Frame("198.51.100.7", "192.0.2.10", 1, 9, nil))
	pumpAll(e)
	if n := len(rack.Sent()); n != 0 {
		t.Fatalf("blocked frame forwarded")
	}
	if d := e.Counters().Ports[Uplink].DropsByReason[reason.FilterBlocked]; d != 1 {
		t.Fatalf("filter_blocked = %d", d)
	}
	e.LoadRules(nil)
	f := udp4Frame("198.51.100.7", "192.0.2.10", 2, 9, nil)
	up.Inject(f)
	pumpAll(e)
	sameFrames(t, "after reload", rack.Sent(), [][]byte{f})
}

func TestRewriteAppliedOnForward(t *testing.T) {
	pol := config.Default()
	pol.MinTTL = 100
	e, up, rack := testEngine(t, &pol, nil)
	up.Inject(udp4Frame("198.51.100.7", "192.0.2.10", 1, 2, []byte("ttl")))
	pumpAll(e)
	got := rack.Sent()
	if len(got) != 1 || got[0][14+8] != 100 {
		t.Fatalf("TTL not raised: %x", got)
	}
	var f packet.Frame
	if r := f.Decode(got[0], &pol); r != reason.None {
		t.Fatalf("rewritten frame does not decode: %v", r)
	}
	if r := packet.CheckTransport(&f, true); r != reason.None {
		t.Fatalf("rewritten frame: %v", r)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	f := udp4Frame("198.51.100.7", "192.0.2.10", 1, 2, []byte("live"))
	up.Inject(f)
	deadline := time.Now().Add(5 * time.Second)
	var got [][]byte
	for len(got) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		got = rack.Sent()
	}
	sameFrames(t, "while running", got, [][]byte{f})
	if !e.Health().Running {
		t.Fatal("Health does not report running")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if e.Health().Running {
		t.Fatal("Health reports running after Run returned")
	}
}
