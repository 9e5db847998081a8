package dataplane

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/filter"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/dataplane/shed"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Tests of the engine with several workers. The frames of a test are put
// on the queues it names, not where the fanout hash would put them, so
// state shared by the workers is exercised across workers; under -race
// the concurrent ones also check that sharing takes its locks.

// workersEngine returns an engine with n workers over in-memory queues.
func workersEngine(t testing.TB, n int, pol *config.Policy, rs *rules.RuleSet) (*Engine, *MemQueues, *MemQueues) {
	t.Helper()
	up, rack := NewMemQueues("uplink0", n), NewMemQueues("rack0", n)
	e, err := New(Config{Policy: pol, Rules: rs, UplinkQueues: up.Ports(), RackQueues: rack.Ports(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if e.Workers() != n {
		t.Fatalf("%d workers, want %d", e.Workers(), n)
	}
	return e, up, rack
}

// tcpFrame4 is one TCP segment with the given sequence and
// acknowledgement numbers and payload, checksums set.
func tcpFrame4(src, dst netip.Addr, sport, dport uint16, flags uint8, seq, ack uint32, payload []byte) []byte {
	seg := make([]byte, 20+len(payload))
	binary.BigEndian.PutUint16(seg[0:], sport)
	binary.BigEndian.PutUint16(seg[2:], dport)
	binary.BigEndian.PutUint32(seg[4:], seq)
	binary.BigEndian.PutUint32(seg[8:], ack)
	seg[12] = 5 << 4
	seg[13] = flags
	binary.BigEndian.PutUint16(seg[14:], 65535)
	copy(seg[20:], payload)
	binary.BigEndian.PutUint16(seg[16:], packet.TransportChecksum(src, dst, packet.ProtoTCP, seg))
	f := ethHeader(macUplink, macRack, packet.EtherTypeIPv4)
	f = append(f, ipv4Header(src, dst, packet.ProtoTCP, 1, 0, false, len(seg))...)
	return append(f, seg...)
}

const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpACK = 0x10
)

// tcpExchange is a connection from a rack host to an uplink host: the
// handshake, a segment of data and its acknowledgement. fromRack tells
// which port each frame arrives on.
func tcpExchange(client, server netip.Addr, cport uint16) (frames [][]byte, fromRack []bool) {
	const cISN, sISN = 1000, 5000
	data := []byte("0123456789")
	frames = [][]byte{
		tcpFrame4(client, server, cport, 443, tcpSYN, cISN, 0, nil),
		tcpFrame4(server, client, 443, cport, tcpSYN|tcpACK, sISN, cISN+1, nil),
		tcpFrame4(client, server, cport, 443, tcpACK, cISN+1, sISN+1, nil),
		tcpFrame4(client, server, cport, 443, tcpACK, cISN+1, sISN+1, data),
		tcpFrame4(server, client, 443, cport, tcpACK, sISN+1, cISN+1+uint32(len(data)), nil),
	}
	return frames, []bool{true, false, true, true, false}
}

// statefulRules pass only what the rack opens.
func statefulRules(t testing.TB) *rules.RuleSet {
	t.Helper()
	rs, err := rules.Parse("set default block\npass out proto tcp\npass out proto udp\n")
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// Both directions of a TCP connection handled by different workers still
// meet one connection in the filter: the server's answers, on worker 1,
// pass only because worker 0 tracked the client's SYN, and the other way
// round for the rest.
func TestTCPDirectionsOnDifferentWorkers(t *testing.T) {
	e, up, rack := workersEngine(t, 2, nil, statefulRules(t))
	client, server := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("198.51.100.7")
	frames, fromRack := tcpExchange(client, server, 40000)
	// The worker of each frame: the two directions always differ.
	workerOf := []int{0, 1, 1, 0, 0}
	for i, f := range frames {
		w := workerOf[i]
		in, out := up, rack
		port := Uplink
		if fromRack[i] {
			in, out, port = rack, up, Rack
		}
		in.Queue(w).Inject(f)
		e.workers[w].pump(port)
		sameFrames(t, fmt.Sprintf("segment %d", i), out.Sent(), [][]byte{f})
	}
	if st := e.FilterStats(); st.ByState[filter.TCPEstablished] != 1 || st.Connections != 1 {
		t.Fatalf("filter holds %d connections, %d established; want the one, established", st.Connections, st.ByState[filter.TCPEstablished])
	}
	// The same server segment without the connection is refused, so the
	// passes above were the connection's doing.
	stray := tcpFrame4(server, client, 443, 40001, tcpACK, 5001, 1011, nil)
	up.Queue(1).Inject(stray)
	e.workers[1].pump(Uplink)
	if got := rack.Sent(); len(got) != 0 {
		t.Fatalf("a segment of no connection passed")
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Many connections at once, each with its two directions on different
// workers, while both workers run: every segment of every connection
// passes.
func TestConcurrentConnectionsAcrossWorkers(t *testing.T) {
	const workers, conns = 2, 200
	e, up, rack := workersEngine(t, workers, nil, statefulRules(t))
	runEngine(t, e)
	server := netip.MustParseAddr("198.51.100.7")
	exchanges := make([][][]byte, conns)
	var fromRack []bool
	for c := range exchanges {
		client := netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + c%200)})
		exchanges[c], fromRack = tcpExchange(client, server, uint16(30000+c))
	}
	sent := [2]int{}
	for step := range fromRack {
		in, port := up, Uplink
		if fromRack[step] {
			in, port = rack, Rack
		}
		for c, ex := range exchanges {
			// Connection c's client side on worker c%2, its server side on
			// the other one.
			w := c % workers
			if port == Uplink {
				w = 1 - w
			}
			in.Queue(w).Inject(ex[step])
		}
		// One step of every connection at a time: a SYN+ACK must not
		// overtake its SYN on the other worker.
		sent[1-port] += conns
		out := 1 - port
		waitFor(t, 5*time.Second, fmt.Sprintf("step %d forwarded", step), func() bool {
			s := e.Counters()
			return s.Ports[out].TxFrames+s.Ports[port].TotalDrops() >= uint64(sent[out])
		})
	}
	s := e.Counters()
	for p := range s.Ports {
		if d := s.Ports[p].TotalDrops(); d != 0 {
			t.Errorf("port %d dropped %d frames: %v", p, d, s.Ports[p].Drops)
		}
	}
	if s.Ports[Rack].Forwarded != 3*conns || s.Ports[Uplink].Forwarded != 2*conns {
		t.Fatalf("forwarded %d from the rack and %d from the uplink, want %d and %d",
			s.Ports[Rack].Forwarded, s.Ports[Uplink].Forwarded, 3*conns, 2*conns)
	}
	if st := e.FilterStats(); st.ByState[filter.TCPEstablished] != conns {
		t.Fatalf("%d connections established, want %d", st.ByState[filter.TCPEstablished], conns)
	}
}

// A datagram whose fragments arrive on two workers is reassembled and
// judged once, and released whole by the worker that completed it.
func TestFragmentsOnTwoWorkers(t *testing.T) {
	e, up, rack := workersEngine(t, 2, nil, nil)
	payload := make([]byte, 2000)
	for i := range payload {
		payload[i] = byte(i * 13)
	}
	frags := udp4Fragments("198.51.100.7", "192.0.2.10", 99, payload, 808)
	up.Queue(0).Inject(frags[2])
	e.workers[0].pump(Uplink)
	up.Queue(1).Inject(frags[0])
	e.workers[1].pump(Uplink)
	if got := rack.Sent(); len(got) != 0 {
		t.Fatalf("%d fragments left before the datagram was complete", len(got))
	}
	up.Queue(0).Inject(frags[1])
	e.workers[0].pump(Uplink)
	// Worker 0 completed it: all three leave through its queue, in order.
	sameFrames(t, "worker 0's rack queue", rack.Queue(0).Sent(), frags)
	if got := rack.Queue(1).Sent(); len(got) != 0 {
		t.Fatalf("worker 1 transmitted %d frames of a datagram it did not complete", len(got))
	}
	if fs := e.FragStats(); fs.DatagramsHeld != 0 || fs.FragmentsHeld != 0 {
		t.Fatalf("reassembler still holds %+v", fs)
	}

	// The same across workers with a bad transport checksum: judged once,
	// every fragment dropped with the datagram (F10).
	bad := udp4Fragments("198.51.100.7", "192.0.2.10", 100, payload, 808)
	bad[2][len(bad[2])-1] ^= 0xff
	up.Queue(1).Inject(bad[0])
	e.workers[1].pump(Uplink)
	up.Queue(0).Inject(bad[1])
	e.workers[0].pump(Uplink)
	up.Queue(1).Inject(bad[2])
	e.workers[1].pump(Uplink)
	if got := rack.Sent(); len(got) != 0 {
		t.Fatalf("%d fragments of a corrupt datagram left", len(got))
	}
	if d := e.Counters().Ports[Uplink].DropsByReason[reason.FragChecksum]; d != 3 {
		t.Fatalf("%d fragments dropped as frag_checksum, want 3", d)
	}
}

// Many datagrams at once, each split over both workers while they run:
// every one is released whole.
func TestConcurrentFragmentsAcrossWorkers(t *testing.T) {
	const datagrams = 100
	e, up, rack := workersEngine(t, 2, nil, nil)
	runEngine(t, e)
	payload := make([]byte, 1600)
	want := 0
	for d := range datagrams {
		src := fmt.Sprintf("198.51.100.%d", 1+d%50)
		frags := udp4Fragments(src, "192.0.2.10", uint16(d), payload, 808)
		for i, f := range frags {
			up.Queue((d + i) % 2).Inject(f)
		}
		want += len(frags)
	}
	waitFor(t, 5*time.Second, "every fragment forwarded", func() bool {
		return e.Counters().Ports[Uplink].Forwarded >= uint64(want)
	})
	if got := len(rack.Sent()); got != want {
		t.Fatalf("%d fragments sent, want %d", got, want)
	}
	if d := e.Counters().Ports[Uplink].TotalDrops(); d != 0 {
		t.Fatalf("%d fragments dropped: %v", d, e.Counters().Ports[Uplink].Drops)
	}
}

// A source's violations seen by several workers at once are all counted:
// one short of the threshold does not quarantine it, the next one does,
// and the quarantine records exactly the threshold's worth plus one.
func TestQuarantineThresholdExactAcrossWorkers(t *testing.T) {
	const workers, threshold = 2, 300
	pol := config.Default()
	pol.QuarantineThreshold = threshold
	pol.QuarantineWindow = time.Hour
	e, up, _ := workersEngine(t, workers, &pol, nil)
	var events []quarantine.Event
	evc := make(chan quarantine.Event, 16)
	e.Quarantine().Subscribe(func(ev quarantine.Event) { evc <- ev })
	runEngine(t, e)
	bad := udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, []byte("x"))
	bad[14+10] ^= 0xff // ip_checksum_invalid: a violation
	k, _ := source.Parse("198.51.100.66")
	for i := range threshold {
		up.Queue(i % workers).Inject(bad)
	}
	drops := func() uint64 { return e.Counters().Ports[Uplink].TotalDrops() }
	waitFor(t, 5*time.Second, "the violations counted", func() bool { return drops() >= threshold })
	if st, _, _ := e.Quarantine().Source(k, time.Now()); st.Counts[reason.IPChecksumInvalid] != threshold {
		t.Fatalf("source charged %d violations, want %d", st.Counts[reason.IPChecksumInvalid], threshold)
	}
	if q := e.Quarantine().Quarantined(time.Now()); len(q) != 0 {
		t.Fatalf("quarantined at %d violations, threshold %d", threshold, threshold)
	}
	up.Queue(1).Inject(bad)
	waitFor(t, 5*time.Second, "the quarantine event", func() bool {
		select {
		case ev := <-evc:
			events = append(events, ev)
		default:
		}
		return len(events) > 0
	})
	if ev := events[0]; ev.Kind != quarantine.EventQuarantine || ev.Key != k || ev.Recent != threshold+1 {
		t.Fatalf("event %v for %v with %d recent violations, want a quarantine of %v at %d", ev.Kind, ev.Key, ev.Recent, k, threshold+1)
	}
	// From now on its frames are quarantined, whichever worker sees them.
	for i := range 10 {
		up.Queue(i % workers).Inject(bad)
	}
	waitFor(t, 5*time.Second, "the quarantined frames", func() bool {
		return e.Counters().Ports[Uplink].DropsByReason[reason.Quarantined] == 10
	})
}

// Drops on several workers at once reach the capture ring one for one.
func TestCaptureCountsDropsOfAllWorkers(t *testing.T) {
	const workers, frames = 2, 1000
	pol := config.Default()
	pol.QuarantineThreshold = 1 << 20 // counting drops here, not quarantining
	e, up, rack := workersEngine(t, workers, &pol, nil)
	runEngine(t, e)
	for i := range frames {
		f := udp4Frame(fmt.Sprintf("198.51.100.%d", 1+i%100), "192.0.2.10", uint16(i), 2, []byte("x"))
		f[14+10] ^= 0xff
		if i%2 == 0 {
			up.Queue(i / 2 % workers).Inject(f)
		} else {
			rack.Queue(i / 2 % workers).Inject(f)
		}
	}
	waitFor(t, 5*time.Second, "every drop captured", func() bool { return e.Capture().Added() >= frames })
	time.Sleep(50 * time.Millisecond) // room for a miscount to show
	s := e.Counters()
	if got := e.Capture().Added(); got != frames {
		t.Fatalf("capture ring took %d frames, want %d", got, frames)
	}
	if d := s.Ports[Uplink].TotalDrops() + s.Ports[Rack].TotalDrops(); d != frames {
		t.Fatalf("%d drops counted, want %d", d, frames)
	}
	if s.Ports[Uplink].RxFrames != frames/2 || s.Ports[Rack].RxFrames != frames/2 {
		t.Fatalf("received %d and %d frames, want %d each", s.Ports[Uplink].RxFrames, s.Ports[Rack].RxFrames, frames/2)
	}
}

// A port's progress is its oldest worker's: one worker blocked in a batch
// makes the port stale even while another keeps working.
func TestPortProgressIsOldestWorkers(t *testing.T) {
	t.Parallel()
	stuck := &stuckPort{MemPort: NewMemPort("uplink0"), entered: make(chan struct{}, 1), release: make(chan struct{})}
	busy := NewMemPort("uplink0")
	rack := NewMemQueues("rack0", 2)
	e, err := New(Config{UplinkQueues: []Port{busy, stuck}, RackQueues: rack.Ports(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	runEngine(t, e)
	t.Cleanup(func() { close(stuck.release) })
	select {
	case <-stuck.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("worker 1 never entered Receive")
	}
	const stuckFor = 1500 * time.Millisecond
	deadline := time.Now().Add(stuckFor)
	for time.Now().Before(deadline) {
		// Worker 0 keeps forwarding all along.
		busy.Inject(udp4Frame("198.51.100.7", "192.0.2.10", 1, 2, nil))
		time.Sleep(20 * time.Millisecond)
	}
	if fwd := e.Counters().Ports[Uplink].Forwarded; fwd < 10 {
		t.Fatalf("the working worker forwarded %d frames in %v", fwd, stuckFor)
	}
	h := e.Health().Ports[Uplink]
	if h.ProgressAge < stuckFor {
		t.Fatalf("one worker blocked for %v, the port's progress age is %v", stuckFor, h.ProgressAge)
	}
}

// The multi-worker path allocates nothing per frame either: two workers,
// each forwarding frames of its flows both ways.
func TestWorkersForwardAllocatesNothing(t *testing.T) {
	e, up, rack := workersEngine(t, 2, nil, nil)
	var in, back [][]byte
	for i := range 8 {
		src := fmt.Sprintf("198.51.100.%d", 1+i)
		in = append(in, udp4Frame(src, "192.0.2.10", 1000, 53, make([]byte, 64)))
		back = append(back, udp4Frame("192.0.2.10", src, 53, 1000, make([]byte, 64)))
	}
	queues := map[int]bool{}
	for _, f := range in {
		queues[FlowQueue(f, 2)] = true
	}
	if len(queues) != 2 {
		t.Fatalf("the flows reach queues %v; the test needs both", queues)
	}
	run := func() {
		for i := range in {
			up.Inject(in[i])
			rack.Inject(back[i])
		}
		for w := range e.workers {
			e.workers[w].pump(Uplink)
			e.workers[w].pump(Rack)
		}
		up.Discard()
		rack.Discard()
	}
	run()
	if n := testing.AllocsPerRun(500, run); n != 0 {
		t.Fatalf("%v allocations per round of %d frames on two workers, want 0", n, 2*len(in))
	}
	if f := e.Counters().Ports[Uplink].Forwarded; f < 500*uint64(len(in)) {
		t.Fatalf("only %d frames forwarded", f)
	}
}

// FlowQueue, like the kernel's fanout program, sends both directions of a
// flow and every fragment of a datagram to one queue.
func TestFlowQueueSymmetricAndFragmentLocal(t *testing.T) {
	for n := 2; n <= 8; n++ {
		used := map[int]bool{}
		for i := range 256 {
			a, b := fmt.Sprintf("198.51.100.%d", i), fmt.Sprintf("192.0.2.%d", 255-i)
			there := tcp4Frame(a, b, uint16(1000+i), 443, tcpSYN)
			back := tcp4Frame(b, a, 443, uint16(1000+i), tcpSYN|tcpACK)
			if q, r := FlowQueue(there, n), FlowQueue(back, n); q != r {
				t.Fatalf("%d queues: flow %d goes to %d one way, %d the other", n, i, q, r)
			}
			used[FlowQueue(there, n)] = true
			frags := udp4Fragments(a, b, uint16(i), make([]byte, 2000), 808)
			for _, f := range frags[1:] {
				if q, r := FlowQueue(frags[0], n), FlowQueue(f, n); q != r {
					t.Fatalf("%d queues: datagram %d split over queues %d and %d", n, i, q, r)
				}
			}
		}
		if len(used) != n {
			t.Fatalf("256 flows reach only %d of %d queues", len(used), n)
		}
	}
}

// Workers must match the queues given, and a bad count is refused.
func TestWorkersConfig(t *testing.T) {
	up, rack := NewMemQueues("u", 2), NewMemQueues("r", 3)
	if _, err := New(Config{UplinkQueues: up.Ports(), RackQueues: rack.Ports()}); err == nil {
		t.Fatal("2 uplink queues and 3 rack queues accepted")
	}
	rack = NewMemQueues("r", 2)
	if _, err := New(Config{Workers: 3, UplinkQueues: up.Ports(), RackQueues: rack.Ports()}); err == nil {
		t.Fatal("3 workers over 2 queues accepted")
	}
	if _, err := New(Config{Workers: -1, UplinkPort: NewMemPort("u"), RackPort: NewMemPort("r")}); err == nil {
		t.Fatal("-1 workers accepted")
	}
}

// A quarantine reaches the socket filter of every queue of both ports: the
// fanout may hand a source's frames to any of them.
func TestKernelFilterOnEveryQueue(t *testing.T) {
	const workers = 3
	e, up, rack := workersEngine(t, workers, nil, nil)
	k, _ := source.Parse("198.51.100.66")
	now := time.Now()
	if err := e.Quarantine().Quarantine(k, time.Minute, "test", now); err != nil {
		t.Fatal(err)
	}
	e.updateShedding(now)
	flood := udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, make([]byte, 1000))
	for w := range workers {
		up.Queue(w).Inject(flood)
		rack.Queue(w).Inject(flood)
		e.workers[w].pump(Uplink)
		e.workers[w].pump(Rack)
	}
	if got := len(up.Sent()) + len(rack.Sent()); got != 0 {
		t.Fatalf("%d frames of a quarantined source forwarded", got)
	}
	s := e.Counters()
	if q := s.Ports[Uplink].DropsByReason[reason.Quarantined] + s.Ports[Rack].DropsByReason[reason.Quarantined]; q != 2*workers {
		t.Fatalf("%d frames dropped as quarantined, want %d", q, 2*workers)
	}
	// Cut by the filter, not judged whole: the frames that reached the
	// workers were the filter's snap length.
	if b := s.Ports[Uplink].RxBytes + s.Ports[Rack].RxBytes; b > uint64(2*workers*shed.Snap) {
		t.Fatalf("%d bytes received for %d frames cut to at most %d bytes: not every queue cut them", b, 2*workers, shed.Snap)
	}
}
