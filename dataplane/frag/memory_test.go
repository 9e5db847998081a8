package frag

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// harness drives a Reassembler directly, for tests that need many frames.
type harness struct {
	t    testing.TB
	pol  config.Policy
	sink *recorder
	r    *Reassembler
	now  time.Time
}

func newHarness(t testing.TB, pol config.Policy) *harness {
	h := &harness{t: t, pol: pol, sink: &recorder{}, now: time.Unix(1_700_000_000, 0)}
	h.r = New(&h.pol, h.sink)
	return h
}

func (h *harness) submit(frame []byte, dir packet.Direction) reason.Reason {
	h.t.Helper()
	f := mustDecode(h.t, frame, &h.pol)
	return h.r.Submit(0, dir, f, h.now, acceptAll)
}

func (h *harness) checkBounds() {
	h.t.Helper()
	if err := h.r.checkInvariants(); err != nil {
		h.t.Fatal(err)
	}
	s := h.r.Stats()
	if s.BytesHeld > s.Budget || s.BytesPooled > s.Budget {
		h.t.Fatalf("memory over budget: held %d pooled %d budget %d", s.BytesHeld, s.BytesPooled, s.Budget)
	}
	if s.DatagramsHeld+s.DeadRemembered > h.pol.MaxDatagrams {
		h.t.Fatalf("%d datagrams + %d dead > %d", s.DatagramsHeld, s.DeadRemembered, h.pol.MaxDatagrams)
	}
	if s.SourcesTracked > h.pol.MaxSources {
		h.t.Fatalf("%d sources > %d", s.SourcesTracked, h.pol.MaxSources)
	}
}

func addr4(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
}

// A flooding source over its share evicts its own oldest datagrams, never
// another source's.
func TestF11FlooderEvictsOnlyItsOwn(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		pol := config.Default()
		pol.FragmentMemory = 64 << 10
		pol.PerSourceFloor = 16 << 10
		h := newHarness(t, pol)

		legit := udpDatagram(v6, 0x1111, 2400)
		legit.src = netip.MustParseAddr("192.0.2.7")
		if v6 {
			legit.src = netip.MustParseAddr("2001:db8:7::7")
		}
		legit.fixChecksum()
		if r := h.submit(legit.frag(0, 1400, true), packet.In); r != reason.None {
			t.Fatalf("legit first fragment: %v", r)
		}
		flood := udpDatagram(v6, 0, 1400)
		for i := 0; i < 200; i++ {
			flood.id = uint32(i + 1)
			if r := h.submit(flood.frag(0, 1400, true), packet.In); r != reason.None {
				t.Fatalf("flood %d: %v", i, r)
			}
			h.checkBounds()
			if s := h.r.Stats(); s.BiggestHeld > 32<<10 {
				t.Fatalf("flooder holds %d, over its share of %d", s.BiggestHeld, 32<<10)
			}
		}
		for _, d := range h.sink.dropped {
			f := mustDecode(t, d.frame, &pol)
			if f.Src != flood.src || d.reason != reason.FragMemory {
				t.Fatalf("dropped %v from %v; only the flooder's frames may go", d.reason, f.Src)
			}
		}
		if len(h.sink.dropped) < 150 {
			t.Fatalf("only %d flood fragments evicted", len(h.sink.dropped))
		}
		if r := h.submit(legit.frag(1400, 1008, false), packet.In); r != reason.None || len(h.sink.released) != 2 {
			t.Fatalf("legit datagram: %v, released %d", r, len(h.sink.released))
		}
	})
}

// On the rack side the MAC is a source of its own: a host randomizing its
// IP source is still held to one share.
func TestF12MACSourceOnRackSide(t *testing.T) {
	pol := config.Default()
	pol.FragmentMemory = 64 << 10
	pol.PerSourceFloor = 8 << 10
	h := newHarness(t, pol)
	legit := udpDatagram(false, 0x2222, 2400)
	legit.srcMAC = [6]byte{2, 0, 0, 0, 0, 7}
	if r := h.submit(legit.frag(0, 1400, true), packet.Out); r != reason.None {
		t.Fatal(r)
	}
	flood := udpDatagram(false, 1, 1400)
	flood.srcMAC = [6]byte{2, 0, 0, 0, 0, 0x66}
	for i := 0; i < 500; i++ {
		flood.src = addr4(i + 100)
		flood.fixChecksum()
		if r := h.submit(flood.frag(0, 1400, true), packet.Out); r != reason.None {
			t.Fatalf("flood %d: %v", i, r)
		}
		h.checkBounds()
	}
	s := h.r.Stats()
	if s.BytesHeld > 2*8<<10+2048 {
		t.Fatalf("a MAC randomizing its IP holds %d bytes; its share is the floor", s.BytesHeld)
	}
	for _, d := range h.sink.dropped {
		f := mustDecode(t, d.frame, &pol)
		if f.SrcMAC != flood.srcMAC {
			t.Fatalf("dropped a frame of %x", f.SrcMAC)
		}
	}
	if r := h.submit(legit.frag(1400, 1008, false), packet.Out); r != reason.None || len(h.sink.released) != 2 {
		t.Fatalf("legit datagram: %v, released %d", r, len(h.sink.released))
	}
}

// At the global budget the oldest datagram of the biggest holder goes first.
func TestF11GlobalBudgetBiggestHolderFirst(t *testing.T) {
	pol := config.Default()
	pol.FragmentMemory = 8 << 10
	pol.PerSourceFloor = 8 << 10
	h := newHarness(t, pol)
	a := udpDatagram(false, 0, 1400)
	a.src = addr4(1)
	b := udpDatagram(false, 0, 1400)
	b.src = addr4(2)
	var aFirst []byte
	for i := 0; i < 4; i++ {
		a.id = uint32(100 + i)
		fr := a.frag(0, 1400, true)
		if i == 0 {
			aFirst = fr
		}
		h.submit(fr, packet.In)
		h.now = h.now.Add(time.Millisecond)
	}
	b.id = 200
	h.submit(b.frag(0, 1400, true), packet.In)
	if len(h.sink.dropped) != 0 {
		t.Fatalf("dropped before the budget was reached: %d", len(h.sink.dropped))
	}
	b.id = 201
	if r := h.submit(b.frag(0, 1400, true), packet.In); r != reason.None {
		t.Fatal(r)
	}
	if len(h.sink.dropped) != 1 || string(h.sink.dropped[0].frame) != string(aFirst) || h.sink.dropped[0].reason != reason.FragMemory {
		t.Fatalf("want the biggest holder's oldest fragment evicted, got %d drops", len(h.sink.dropped))
	}
	h.checkBounds()
}

// A flood of random sources and IDs cannot grow any table (Q4), with F6 on
// (dead datagrams) and off (held datagrams).
func TestRandomSourceFloodStaysBounded(t *testing.T) {
	for _, minBytes := range []int{0, 512} {
		pol := config.Default()
		pol.MinFragmentBytesV4, pol.MinFragmentBytesV6 = minBytes, minBytes
		pol.FragmentMemory = 48 << 10
		pol.PerSourceFloor = 4 << 10
		pol.MaxSources = 64
		pol.MaxDatagrams = 32
		h := newHarness(t, pol)
		rng := rand.New(rand.NewPCG(1, 2))
		d := udpDatagram(false, 0, 1800)
		d6 := udpDatagram(true, 0, 1800)
		for i := 0; i < 5000; i++ {
			spec := d
			if i%3 == 0 {
				spec = d6
				var a [16]byte
				a[0] = 0x20
				for j := 1; j < 16; j++ {
					a[j] = byte(rng.Uint32())
				}
				spec.src = netip.AddrFrom16(a)
			} else {
				spec.src = addr4(int(rng.Uint32() >> 8))
			}
			spec.id = rng.Uint32()
			h.submit(spec.frag(8*rng.IntN(100), 8*(1+rng.IntN(120)), true), packet.Direction(rng.IntN(2)))
			h.checkBounds()
			h.now = h.now.Add(time.Duration(rng.IntN(2000)) * time.Microsecond)
		}
		if s := h.r.Stats(); s.SourcesTracked == 0 || s.DatagramsHeld+s.DeadRemembered == 0 {
			t.Fatalf("flood left no state at all: %+v", s)
		}
	}
}

// F11 rate limit: a token bucket of FragmentRate per second, FragmentBurst deep.
func TestF11RateLimit(t *testing.T) {
	pol := relaxed()
	pol.FragmentRate = 10
	pol.FragmentBurst = 5
	h := newHarness(t, pol)
	d := udpDatagram(false, 0, 1200)
	other := udpDatagram(false, 0, 1200)
	other.src = addr4(9)
	for i := 0; i < 5; i++ {
		d.id = uint32(i)
		if r := h.submit(d.frag(0, 16, true), packet.In); r != reason.None {
			t.Fatalf("fragment %d within the burst: %v", i, r)
		}
	}
	d.id = 99
	if r := h.submit(d.frag(0, 16, true), packet.In); r != reason.FragRateLimited {
		t.Fatalf("over the burst: %v", r)
	}
	if r := h.submit(other.frag(0, 16, true), packet.In); r != reason.None {
		t.Fatalf("another source is not limited: %v", r)
	}
	h.now = h.now.Add(100 * time.Millisecond)
	if r := h.submit(d.frag(0, 16, true), packet.In); r != reason.None {
		t.Fatalf("after one token's time: %v", r)
	}
	if r := h.submit(d.frag(16, 16, true), packet.In); r != reason.FragRateLimited {
		t.Fatalf("second fragment in the same 100 ms: %v", r)
	}
}

// Remembering dead keys never evicts a live datagram: a flood of broken
// fragments with fresh keys leaves reassemblies in progress alone.
func TestDeadKeysDoNotEvictLiveDatagrams(t *testing.T) {
	pol := relaxed()
	pol.MaxDatagrams = 4
	h := newHarness(t, pol)
	var specs []*datagramSpec
	for i := 0; i < 4; i++ {
		d := udpDatagram(i%2 == 1, uint32(0x100+i), 40)
		specs = append(specs, d)
		if r := h.submit(d.frag(0, 16, true), packet.In); r != reason.None {
			t.Fatal(r)
		}
	}
	bad := udpDatagram(false, 0, 40)
	for i := 0; i < 100; i++ {
		bad.id = uint32(0x1000 + i)
		if r := h.submit(bad.frag(16, 12, true), packet.In); r != reason.FragBadLength {
			t.Fatalf("broken fragment: %v", r)
		}
		h.checkBounds()
	}
	if len(h.sink.dropped) != 0 {
		t.Fatalf("%d held fragments dropped by the flood", len(h.sink.dropped))
	}
	for _, d := range specs {
		h.submit(d.frag(16, 16, true), packet.In)
		if r := h.submit(d.frag(32, 16, false), packet.In); r != reason.None {
			t.Fatal(r)
		}
	}
	if len(h.sink.released) != 12 {
		t.Fatalf("released %d fragments, want all 12", len(h.sink.released))
	}
}
