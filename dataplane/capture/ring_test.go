package capture

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

var (
	hostA = source.FromAddr(netip.MustParseAddr("192.0.2.7"))
	hostB = source.FromAddr(netip.MustParseAddr("2001:db8:1:2::9"))
	macA  = source.FromMAC([6]byte{2, 0, 0, 0, 0, 1})
)

// frame returns a recognizable frame of n bytes: every byte is seed+offset.
func frame(seed byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

type added struct {
	ts    time.Time
	port  uint8
	why   reason.Reason
	keys  []source.Key
	frame []byte
}

func add(r *Ring, a added) {
	var keys [source.MaxKeys]source.Key
	copy(keys[:], a.keys)
	r.Add(a.ts, a.port, a.why, keys, len(a.keys), a.frame)
}

type readBack struct {
	data    []byte
	ci      gopacket.CaptureInfo
	comment string
}

func readAll(t *testing.T, b []byte) (*pcapgo.NgReader, []readBack) {
	t.Helper()
	rd, err := pcapgo.NewNgReader(bytes.NewReader(b), pcapgo.DefaultNgReaderOptions)
	if err != nil {
		t.Fatal(err)
	}
	var out []readBack
	for {
		data, ci, opts, err := rd.ReadPacketDataWithOptions()
		if errors.Is(err, io.EOF) {
			return rd, out
		}
		if err != nil {
			t.Fatal(err)
		}
		rb := readBack{data: append([]byte(nil), data...), ci: ci}
		if len(opts.Comments) == 1 {
			rb.comment = opts.Comments[0]
		}
		out = append(out, rb)
	}
}

func writeAll(t *testing.T, r *Ring, f Filter) (int, []byte) {
	t.Helper()
	var buf bytes.Buffer
	n, err := r.WritePcapNG(&buf, f)
	if err != nil {
		t.Fatal(err)
	}
	return n, buf.Bytes()
}

func sample() []added {
	return []added{
		{t0, PortUplink, reason.FragOverlap, []source.Key{hostA}, frame(1, 60)},
		{t0.Add(time.Millisecond), PortRack, reason.TCPFlagsInvalid, []source.Key{hostB, macA}, frame(2, 1514)},
		{t0.Add(2 * time.Millisecond), PortRack, reason.EthertypeBlocked, []source.Key{macA}, frame(3, 64)},
		{t0.Add(3 * time.Second), PortUplink, reason.FragOverlap, []source.Key{hostB}, frame(4, 98)},
	}
}

func TestWriteAndReadBack(t *testing.T) {
	r := New(16, 2048)
	in := sample()
	for _, a := range in {
		add(r, a)
	}
	n, b := writeAll(t, r, Filter{})
	if n != len(in) {
		t.Fatalf("wrote %d packets, want %d", n, len(in))
	}
	rd, got := readAll(t, b)
	if len(got) != len(in) {
		t.Fatalf("read %d packets, want %d", len(got), len(in))
	}
	if rd.LinkType() != layers.LinkTypeEthernet {
		t.Errorf("link type %v", rd.LinkType())
	}
	if rd.NInterfaces() != 2 {
		t.Fatalf("%d interfaces, want uplink and rack", rd.NInterfaces())
	}
	for i, want := range []string{"uplink", "rack"} {
		if intf, _ := rd.Interface(i); intf.Name != want || intf.LinkType != layers.LinkTypeEthernet {
			t.Errorf("interface %d = %q %v", i, intf.Name, intf.LinkType)
		}
	}
	wantComments := []string{
		"reason=frag_overlap rule=F4 source=192.0.2.7",
		"reason=tcp_flags_invalid rule=T1 source=2001:db8:1:2::/64,mac-02:00:00:00:00:01",
		"reason=ethertype_blocked rule=L2 source=mac-02:00:00:00:00:01",
		"reason=frag_overlap rule=F4 source=2001:db8:1:2::/64",
	}
	for i, g := range got {
		w := in[i]
		if !bytes.Equal(g.data, w.frame) {
			t.Errorf("packet %d: bytes differ", i)
		}
		if !g.ci.Timestamp.Equal(w.ts) {
			t.Errorf("packet %d: time %v, want %v", i, g.ci.Timestamp, w.ts)
		}
		if g.ci.Length != len(w.frame) || g.ci.CaptureLength != len(w.frame) {
			t.Errorf("packet %d: lengths %d/%d, want %d", i, g.ci.CaptureLength, g.ci.Length, len(w.frame))
		}
		if g.ci.InterfaceIndex != int(w.port) {
			t.Errorf("packet %d: interface %d, want %d", i, g.ci.InterfaceIndex, w.port)
		}
		if g.comment != wantComments[i] {
			t.Errorf("packet %d: comment %q, want %q", i, g.comment, wantComments[i])
		}
	}
}

func TestFilters(t *testing.T) {
	r := New(16, 2048)
	for _, a := range sample() {
		add(r, a)
	}
	seeds := func(f Filter) []byte {
		_, b := writeAll(t, r, f)
		_, got := readAll(t, b)
		var s []byte
		for _, g := range got {
			s = append(s, g.data[0])
		}
		return s
	}
	cases := []struct {
		name string
		f    Filter
		want []byte // frame seeds, oldest first
	}{
		{"all", Filter{}, []byte{1, 2, 3, 4}},
		{"by reason", Filter{Reason: reason.FragOverlap}, []byte{1, 4}},
		{"by IP source", Filter{Source: &hostB}, []byte{2, 4}},
		{"by MAC source", Filter{Source: &macA}, []byte{2, 3}},
		{"reason and source", Filter{Reason: reason.FragOverlap, Source: &hostA}, []byte{1}},
		{"since", Filter{Since: t0.Add(time.Millisecond)}, []byte{2, 3, 4}},
		{"max keeps the newest", Filter{Max: 2}, []byte{3, 4}},
		{"max with a source", Filter{Source: &macA, Max: 1}, []byte{3}},
		{"nothing matches", Filter{Reason: reason.MartianSource}, nil},
	}
	for _, c := range cases {
		if got := seeds(c.f); !bytes.Equal(got, c.want) {
			t.Errorf("%s: frames %v, want %v", c.name, got, c.want)
		}
		snap := r.Snapshot(c.f)
		if len(snap) != len(c.want) {
			t.Errorf("%s: Snapshot has %d records, want %d", c.name, len(snap), len(c.want))
		}
	}
	snap := r.Snapshot(Filter{Source: &hostB})
	if len(snap) != 2 || snap[0].Seq != 2 || snap[0].Port != PortRack || snap[0].Reason != reason.TCPFlagsInvalid ||
		len(snap[0].Sources) != 2 || snap[0].Sources[1] != macA || snap[0].Length != 1514 || snap[0].Captured != 1514 ||
		!snap[0].Time.Equal(t0.Add(time.Millisecond)) {
		t.Errorf("Snapshot = %+v", snap)
	}
}

func TestWrapAroundKeepsTheNewest(t *testing.T) {
	r := New(4, 128)
	for i := 1; i <= 10; i++ {
		add(r, added{t0.Add(time.Duration(i) * time.Second), PortUplink, reason.FragTooSmall, []source.Key{hostA}, frame(byte(i*10), 40+i)})
	}
	snap := r.Snapshot(Filter{})
	if len(snap) != 4 || snap[0].Seq != 7 || snap[3].Seq != 10 || r.Added() != 10 {
		t.Fatalf("Snapshot after wrap = %+v", snap)
	}
	n, b := writeAll(t, r, Filter{})
	_, got := readAll(t, b)
	if n != 4 || len(got) != 4 {
		t.Fatalf("wrote %d, read %d, want 4", n, len(got))
	}
	for j, g := range got {
		i := 7 + j
		if !bytes.Equal(g.data, frame(byte(i*10), 40+i)) || !g.ci.Timestamp.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Errorf("packet %d is not frame %d", j, i)
		}
	}
}

func TestSnapTruncationKeepsOriginalLength(t *testing.T) {
	r := New(8, 64)
	big := frame(9, 1500)
	add(r, added{t0, PortRack, reason.FragTooLarge, []source.Key{macA}, big})
	_, b := writeAll(t, r, Filter{})
	rd, got := readAll(t, b)
	if len(got) != 1 {
		t.Fatalf("read %d packets", len(got))
	}
	if !bytes.Equal(got[0].data, big[:64]) || got[0].ci.CaptureLength != 64 || got[0].ci.Length != 1500 {
		t.Errorf("truncated packet: %d bytes kept, length %d", got[0].ci.CaptureLength, got[0].ci.Length)
	}
	if intf, _ := rd.Interface(1); intf.SnapLength != 64 {
		t.Errorf("interface snap length %d, want 64", intf.SnapLength)
	}
	if s := r.Snapshot(Filter{}); s[0].Length != 1500 || s[0].Captured != 64 {
		t.Errorf("Snapshot lengths %+v", s[0])
	}
}

func TestOtherPortsGetTheirOwnInterface(t *testing.T) {
	r := New(8, 128)
	add(r, added{t0, 3, reason.FilterBlocked, []source.Key{hostA}, frame(1, 60)})
	_, b := writeAll(t, r, Filter{})
	rd, got := readAll(t, b)
	if rd.NInterfaces() != 3 || len(got) != 1 || got[0].ci.InterfaceIndex != 2 {
		t.Fatalf("%d interfaces, packet on %d", rd.NInterfaces(), got[0].ci.InterfaceIndex)
	}
	if intf, _ := rd.Interface(2); intf.Name != "port3" {
		t.Errorf("interface name %q", intf.Name)
	}
}

func TestEmptyAndDisabledRings(t *testing.T) {
	for _, r := range []*Ring{New(0, 1600), New(4, 1600)} {
		if r.Cap() == 0 {
			add(r, sample()[0]) // a disabled ring ignores frames
		}
		n, b := writeAll(t, r, Filter{})
		_, got := readAll(t, b)
		if n != 0 || len(got) != 0 || len(r.Snapshot(Filter{})) != 0 {
			t.Errorf("ring of %d: %d packets from an empty ring", r.Cap(), n)
		}
	}
}

func TestAddAllocatesNothing(t *testing.T) {
	r := New(64, 256)
	keys := [source.MaxKeys]source.Key{hostA, macA}
	f := frame(0, 1514)
	a := testing.AllocsPerRun(10000, func() {
		r.Add(t0, PortRack, reason.FragOverlap, keys, 2, f)
	})
	if a != 0 {
		t.Errorf("Add allocates %v per call", a)
	}
}

// TestConcurrentReaders writes while readers download: every frame read
// back must be whole, matching its own comment and length.
func TestConcurrentReaders(t *testing.T) {
	r := New(32, 256)
	var wg sync.WaitGroup
	var reads, failed atomic.Int64
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(done)
		var keys [source.MaxKeys]source.Key
		buf := make([]byte, 300)
		// Keep writing until the readers have read a good number of
		// files while frames were being overwritten under them.
		for i := 0; (i < 20000 || reads.Load() < 200) && failed.Load() == 0; i++ {
			seed := byte(i)
			n := 60 + i%240
			for j := range buf[:n] {
				buf[j] = seed
			}
			keys[0] = source.FromMAC([6]byte{0, 0, 0, 0, 0, seed})
			r.Add(t0.Add(time.Duration(i)), PortRack, reason.FragOverlap, keys, 1, buf[:n])
		}
	}()
	for reader := 0; reader < 2; reader++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if t.Failed() {
					failed.Add(1)
				}
			}()
			for {
				select {
				case <-done:
					return
				default:
				}
				var out bytes.Buffer
				if _, err := r.WritePcapNG(&out, Filter{}); err != nil {
					t.Error(err)
					return
				}
				_, got := readAll(t, out.Bytes())
				for _, g := range got {
					seed := g.data[0]
					for _, c := range g.data {
						if c != seed {
							t.Error("torn frame")
							return
						}
					}
					if g.comment != commentFor(seed) {
						t.Errorf("comment %q does not match frame %d", g.comment, seed)
						return
					}
					if g.ci.CaptureLength != min(g.ci.Length, 256) {
						t.Errorf("frame of %d bytes kept %d", g.ci.Length, g.ci.CaptureLength)
						return
					}
				}
				r.Snapshot(Filter{Max: 5})
				reads.Add(1)
			}
		}()
	}
	wg.Wait()
}

func commentFor(seed byte) string {
	// Built by hand, not by Comment, so the test checks the format.
	return "reason=frag_overlap rule=F4 source=mac-00:00:00:00:00:" + fmt.Sprintf("%02x", seed)
}

func BenchmarkAdd(b *testing.B) {
	r := New(4096, 1600)
	keys := [source.MaxKeys]source.Key{hostA, macA}
	f := frame(0, 1514)
	b.ReportAllocs()
	b.SetBytes(int64(len(f)))
	for b.Loop() {
		r.Add(t0, PortRack, reason.FragOverlap, keys, 2, f)
	}
}
