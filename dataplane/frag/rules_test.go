package frag

import (
	"bytes"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

const (
	none_     = reason.None
	overlap   = reason.FragOverlap
	duplicate = reason.FragDuplicate
)

func ipName(v6 bool) string {
	if v6 {
		return "v6"
	}
	return "v4"
}

// eachIP runs a table for IPv4 and IPv6.
func eachIP(t *testing.T, fn func(t *testing.T, v6 bool)) {
	for _, v6 := range []bool{false, true} {
		t.Run(ipName(v6), func(t *testing.T) { fn(t, v6) })
	}
}

// F1 and F10: fragments are held until complete, then leave in offset order.
func TestF1HeldUntilCompleteThenOffsetOrder(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := udpDatagram(v6, 0x1001, 40) // 48-byte segment
		frames := map[string][]byte{
			"a": d.frag(0, 16, true),
			"b": d.frag(16, 16, true),
			"c": d.frag(32, 16, false),
		}
		runTable(t, relaxed(), frames, []event{
			{frame: "c"},
			{frame: "a"},
			{frame: "b", released: []string{"a", "b", "c"}},
		})
		runTable(t, relaxed(), frames, []event{
			{frame: "a"},
			{frame: "b"},
			{frame: "c", released: []string{"a", "b", "c"}},
		})
		// Nothing of an incomplete datagram leaves, even at its deadline.
		runTable(t, relaxed(), frames, []event{
			{frame: "a"},
			{frame: "c"},
			{after: 5*time.Second + 1, dropped: []string{"a:frag_timeout", "c:frag_timeout"}},
		})
	})
}

// F2: length rules and DF.
func TestF2(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := udpDatagram(v6, 0x2002, 40)
		frames := map[string][]byte{
			"a":      d.frag(0, 16, true),
			"odd":    d.frag(16, 12, true), // non-final, not a multiple of 8
			"c":      d.frag(32, 16, false),
			"empty":  d.fragWith(48, 0, false, fragOpts{data: []byte{}}),
			"emptyM": d.fragWith(16, 0, true, fragOpts{data: []byte{}}),
		}
		runTable(t, relaxed(), frames, []event{
			{frame: "a"},
			{frame: "odd", want: reason.FragBadLength, dropped: []string{"a:frag_bad_length"}},
			// Dead: later fragments with the key share the reason.
			{frame: "c", want: reason.FragBadLength},
		})
		runTable(t, relaxed(), frames, []event{
			{frame: "empty", want: reason.FragBadLength},
			{frame: "a", want: reason.FragBadLength},
		})
		runTable(t, relaxed(), frames, []event{
			{frame: "emptyM", want: reason.FragBadLength},
		})
	})
	d := udpDatagram(false, 0x2003, 40)
	runTable(t, relaxed(), map[string][]byte{
		"a":  d.frag(0, 16, true),
		"df": d.fragWith(16, 16, true, fragOpts{df: true}),
		"c":  d.frag(32, 16, false),
	}, []event{
		{frame: "a"},
		{frame: "df", want: reason.FragDontFragment, dropped: []string{"a:frag_df_set"}},
		{frame: "c", want: reason.FragDontFragment},
	})
}

// F3 with POLICY.md's arithmetic: IPv4 header + offset + length, IPv6
// offset + length (payload after the fragment header).
func TestF3(t *testing.T) {
	cases := []struct {
		v6       bool
		off, n   int
		more     bool
		tooLarge bool
	}{
		{false, 65504, 8, true, false},  // 20 + 65504 + 8 = 65532
		{false, 65512, 8, true, true},   // 20 + 65512 + 8 = 65540
		{false, 65512, 3, false, false}, // 20 + 65512 + 3 = 65535
		{false, 65512, 4, false, true},  // 65536
		{true, 65520, 8, true, false},   // 65528
		{true, 65528, 7, false, false},  // exactly 65535
		{true, 65528, 8, true, true},    // 65536
		{true, 65528, 8, false, true},
	}
	for _, c := range cases {
		d := udpDatagram(c.v6, 0x3003, 40)
		frames := map[string][]byte{
			"a":   d.frag(0, 16, true),
			"far": d.fragWith(c.off, c.n, c.more, fragOpts{data: bytes.Repeat([]byte{0x55}, c.n)}),
		}
		ev := []event{{frame: "a"}, {frame: "far"}}
		if c.tooLarge {
			ev[1] = event{frame: "far", want: reason.FragTooLarge, dropped: []string{"a:frag_too_large"}}
		}
		t.Run(ipName(c.v6), func(t *testing.T) { runTable(t, relaxed(), frames, ev) })
	}
}

// F4: overlaps kill the datagram, exact duplicates are dropped alone.
func TestF4(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := udpDatagram(v6, 0x4004, 40)
		other := bytes.Repeat([]byte{'Z'}, 16)
		frames := map[string][]byte{
			"a":        d.frag(0, 16, true),
			"a-ttl1":   d.fragWith(0, 16, true, fragOpts{ttl: 1}), // same bytes, other hop limit
			"b":        d.frag(16, 16, true),
			"b-evil":   d.fragWith(16, 16, true, fragOpts{data: other}),
			"b-shift":  d.frag(8, 16, true), // same bytes as the datagram, different offset
			"b-final":  d.fragWith(16, 16, false, fragOpts{ttl: 2}),
			"c":        d.frag(32, 16, false),
			"c-ttl1":   d.fragWith(32, 16, false, fragOpts{ttl: 1}),
			"c-longer": d.fragWith(32, 24, false, fragOpts{data: append(append([]byte{}, d.seg[32:48]...), other[:8]...)}),
			"big":      d.fragWith(48, 8, true, fragOpts{data: other[:8]}),
		}
		t.Run("different bytes", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "a"},
				{frame: "b"},
				{frame: "b-evil", want: overlap, dropped: []string{"a:frag_overlap", "b:frag_overlap"}},
				{frame: "c", want: overlap},
				{frame: "b", want: overlap},
			})
		})
		t.Run("first copy bogus", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "b-evil"},
				{frame: "b", want: overlap, dropped: []string{"b-evil:frag_overlap"}},
				{frame: "a", want: overlap},
				{frame: "c", want: overlap},
			})
		})
		t.Run("partial overlap with equal bytes", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "a"},
				{frame: "b-shift", want: overlap, dropped: []string{"a:frag_overlap"}},
			})
			runTable(t, relaxed(), frames, []event{
				{frame: "c"},
				{frame: "b"},
				{frame: "b-shift", want: overlap, dropped: []string{"b:frag_overlap", "c:frag_overlap"}},
			})
		})
		t.Run("exact duplicate, other hop limit", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "a"},
				{frame: "a-ttl1", want: duplicate},
				{frame: "c"},
				{frame: "c-ttl1", want: duplicate},
				// The earlier copies are the ones that leave.
				{frame: "b", released: []string{"a", "b", "c"}},
			})
		})
		t.Run("contradicting ends", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "c"},
				{frame: "c-longer", want: overlap, dropped: []string{"c:frag_overlap"}},
			})
			runTable(t, relaxed(), frames, []event{
				{frame: "c"},
				{frame: "big", want: overlap, dropped: []string{"c:frag_overlap"}},
			})
			runTable(t, relaxed(), frames, []event{
				{frame: "big"},
				{frame: "b-final", want: overlap, dropped: []string{"big:frag_overlap"}},
			})
			// A copy that differs only in the More Fragments flag is not an
			// exact duplicate: it moves the datagram's end.
			runTable(t, relaxed(), frames, []event{
				{frame: "b"},
				{frame: "b-final", want: overlap, dropped: []string{"b:frag_overlap"}},
			})
		})
	})
}

// The Sturges–Novak pattern (Novak, "Target-Based Fragmentation
// Reassembly", 2005): nine fragments with holes, then eight that overlap
// them in every way (start, end, inside, exact range with other bytes)
// and complete the datagram. Every target OS reassembles it differently;
// here the first overlap kills it and nothing leaves.
func sturgesNovak(v6 bool) (map[string][]byte, []event) {
	type piece struct {
		name   string
		off, n int
		more   bool
	}
	pieces := []piece{
		{"A", 0, 24, true}, {"B", 32, 16, true}, {"C", 48, 24, true}, {"D", 80, 8, true},
		{"E", 104, 16, true}, {"F", 120, 24, true}, {"G", 144, 16, true}, {"H", 160, 16, true},
		{"I", 176, 8, true},
		{"J", 8, 32, true}, {"K", 48, 24, true}, {"L", 72, 24, true}, {"M", 96, 24, true},
		{"N", 128, 8, true}, {"O", 152, 8, true}, {"P", 160, 8, true}, {"Q", 176, 16, false},
	}
	d := udpDatagram(v6, 0x5717, 192-8)
	frames := map[string][]byte{}
	var evs []event
	for i, p := range pieces {
		data := bytes.Repeat([]byte{p.name[0]}, p.n)
		if p.off == 0 {
			copy(data, d.seg[:8]) // a complete UDP header in the first fragment (F5)
		}
		frames[p.name] = d.fragWith(p.off, p.n, p.more, fragOpts{data: data})
		ev := event{frame: p.name}
		if i == 9 {
			ev.want = overlap
			for _, q := range pieces[:9] {
				ev.dropped = append(ev.dropped, q.name+":frag_overlap")
			}
		} else if i > 9 {
			ev.want = overlap
		}
		evs = append(evs, ev)
	}
	return frames, evs
}

func TestSturgesNovakPatternDroppedWhole(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		frames, evs := sturgesNovak(v6)
		runTable(t, relaxed(), frames, evs)

		// Under the shipped defaults the 44-byte first fragment already
		// breaks F6, and every later fragment shares that reason.
		for i := range evs {
			evs[i].want, evs[i].dropped = reason.FragTooSmall, nil
		}
		runTable(t, config.Default(), frames, evs)
	})
}

// F5: the first fragment holds the whole transport header (and, for IPv6,
// every extension header up to it).
func TestF5(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := tcpDatagram(v6, 0x5005, 40) // 60-byte segment
		long := tcpDatagram(v6, 0x5006, 40)
		long.seg[12] = 10 << 4 // 40-byte header with options
		for i := 20; i < 40; i++ {
			long.seg[i] = 1 // NOP
		}
		long.fixChecksum()
		frames := map[string][]byte{
			"short":      d.frag(0, 16, true), // 16 of 20 bytes
			"b":          d.frag(16, 16, true),
			"long-first": long.frag(0, 32, true), // 32 of 40 bytes
			"long-rest":  long.frag(32, 28, false),
			"ok":         d.frag(0, 24, true),
			"ok-rest":    d.frag(24, 36, false),
		}
		runTable(t, relaxed(), frames, []event{
			{frame: "b"},
			{frame: "short", want: reason.FragFirstIncomplete, dropped: []string{"b:frag_first_incomplete"}},
			{frame: "b", want: reason.FragFirstIncomplete},
		})
		runTable(t, relaxed(), frames, []event{
			{frame: "long-rest"},
			{frame: "long-first", want: reason.FragFirstIncomplete, dropped: []string{"long-rest:frag_first_incomplete"}},
		})
		runTable(t, relaxed(), frames, []event{
			{frame: "ok"},
			{frame: "ok-rest", released: []string{"ok", "ok-rest"}},
		})
	})
	// IPv6: a destination options header after the fragment header must be
	// in the first fragment together with the upper-layer header.
	d := udpDatagram(true, 0x5007, 16)
	d.proto = 60
	udp := d.seg
	d.seg = append([]byte{17, 0, 1, 4, 0, 0, 0, 0}, udp...)
	frames := map[string][]byte{
		"opts-only": d.frag(0, 8, true),
		"rest":      d.frag(8, 24, false),
	}
	runTable(t, relaxed(), frames, []event{
		{frame: "opts-only", want: reason.FragFirstIncomplete},
		{frame: "rest", want: reason.FragFirstIncomplete},
	})
}

// F6 under the shipped minimums: 512 bytes for IPv4 packets, 1280 for IPv6.
func TestF6(t *testing.T) {
	cases := []struct {
		v6    bool
		n     int // payload of the non-final fragment
		small bool
	}{
		{false, 488, true},  // 508-byte packet
		{false, 496, false}, // 516
		{true, 1224, true},  // 1272
		{true, 1232, false}, // exactly 1280
	}
	for _, c := range cases {
		d := udpDatagram(c.v6, 0x6006, c.n+8)
		frames := map[string][]byte{
			"first": d.frag(0, c.n, true),
			"last":  d.frag(c.n, 16, false), // a small final fragment is fine
		}
		ev := []event{{frame: "last"}, {frame: "first", released: []string{"first", "last"}}}
		if c.small {
			ev[1] = event{frame: "first", want: reason.FragTooSmall, dropped: []string{"last:frag_too_small"}}
		}
		t.Run(ipName(c.v6), func(t *testing.T) { runTable(t, config.Default(), frames, ev) })
	}
}

// F7: at most max_fragments per datagram.
func TestF7(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		p := relaxed()
		p.MaxFragments = 4
		d := udpDatagram(v6, 0x7007, 32) // 40 bytes
		frames := map[string][]byte{
			"f0": d.frag(0, 8, true), "f1": d.frag(8, 8, true), "f2": d.frag(16, 8, true),
			"f3": d.frag(24, 8, true), "f4": d.frag(32, 8, false),
			"f23": d.frag(16, 16, true),
		}
		runTable(t, p, frames, []event{
			{frame: "f0"}, {frame: "f1"}, {frame: "f2"}, {frame: "f3"},
			{frame: "f4", want: reason.FragTooMany, dropped: []string{"f0:frag_too_many", "f1:frag_too_many", "f2:frag_too_many", "f3:frag_too_many"}},
			{frame: "f0", want: reason.FragTooMany},
		})
		runTable(t, p, frames, []event{
			{frame: "f4"}, {frame: "f0"}, {frame: "f23"},
			{frame: "f1", released: []string{"f0", "f1", "f23", "f4"}},
		})
	})
}

// F8: the deadline is the first fragment plus fragment_timeout and never
// moves; a dead datagram is remembered until that deadline and no longer.
func TestF8(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := udpDatagram(v6, 0x8008, 40)
		frames := map[string][]byte{
			"a":      d.frag(0, 16, true),
			"b":      d.frag(16, 16, true),
			"c":      d.frag(32, 16, false),
			"b-evil": d.fragWith(16, 16, true, fragOpts{data: bytes.Repeat([]byte{1}, 16)}),
		}
		t.Run("not extended", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "a"},
				{after: 3 * time.Second, frame: "b"},
				// 5.5 s after a: b's arrival did not buy more time.
				{after: 2500 * time.Millisecond, frame: "c", dropped: []string{"a:frag_timeout", "b:frag_timeout"}},
				// c began a new reassembly; it too expires on its own clock.
				{after: 5 * time.Second},
				{after: 1, dropped: []string{"c:frag_timeout"}},
			})
		})
		t.Run("complete on the deadline", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "a"},
				{after: 1 * time.Second, frame: "c"},
				{after: 4 * time.Second, frame: "b", released: []string{"a", "b", "c"}},
			})
		})
		t.Run("dead until the deadline", func(t *testing.T) {
			runTable(t, relaxed(), frames, []event{
				{frame: "a"},
				{after: 1 * time.Second, frame: "b"},
				{after: 1 * time.Second, frame: "b-evil", want: overlap, dropped: []string{"a:frag_overlap", "b:frag_overlap"}},
				{after: 2900 * time.Millisecond, frame: "c", want: overlap},
				// 5 s after a the datagram is forgotten: the key starts afresh.
				{after: 200 * time.Millisecond, frame: "c"},
				{frame: "a"},
				{frame: "b", released: []string{"a", "b", "c"}},
			})
		})
	})
}

// F10: the whole datagram is judged: T rules, transport checksum, filter.
func TestF10(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := udpDatagram(v6, 0xa00a, 40)
		badLen := udpDatagram(v6, 0xa00b, 40)
		badLen.seg[5]-- // UDP length one short...
		badLen.fixChecksum()
		corrupt := append([]byte(nil), d.seg[16:32]...)
		corrupt[3] ^= 0x40
		frames := map[string][]byte{
			"a":       d.frag(0, 16, true),
			"b":       d.frag(16, 16, true),
			"b-flip":  d.fragWith(16, 16, true, fragOpts{data: corrupt}),
			"c":       d.frag(32, 16, false),
			"len-a":   badLen.frag(0, 24, true),
			"len-b":   badLen.frag(24, 24, false),
			"padding": d.fragWith(32, 16, false, fragOpts{pad: 6, ttl: 9}),
		}
		runTable(t, relaxed(), frames, []event{
			{frame: "a"},
			{frame: "c"},
			{frame: "b-flip", want: reason.FragChecksum, dropped: []string{"a:frag_checksum", "c:frag_checksum"}},
			{frame: "b", want: reason.FragChecksum},
		})
		runTable(t, relaxed(), frames, []event{
			{frame: "len-b"},
			{frame: "len-a", want: reason.UDPLengthInvalid, dropped: []string{"len-b:udp_length_invalid"}},
		})
		// Ethernet padding is not payload; the original frame leaves as it came.
		runTable(t, relaxed(), frames, []event{
			{frame: "padding"},
			{frame: "a"},
			{frame: "b", released: []string{"a", "b", "padding"}},
		})
	})
}

// The filter sees the whole datagram and its verdict applies to every fragment.
func TestF10JudgeSeesWholeDatagram(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		pol := relaxed()
		d := udpDatagram(v6, 0xa00c, 1000)
		sink := &recorder{}
		r := New(&pol, sink)
		now := time.Unix(100, 0)
		var seen []byte
		judge := func(w *packet.Frame, dir packet.Direction) reason.Reason {
			seen = append([]byte(nil), w.Data[w.L4Off:w.L3End]...)
			if w.Fragment || w.Atomic || w.DstPort != 53 {
				t.Errorf("judge got fragment=%v atomic=%v port %d", w.Fragment, w.Atomic, w.DstPort)
			}
			return reason.FilterBlocked // the filter refuses it
		}
		for _, b := range [][]byte{d.frag(504, 504, false), d.frag(0, 504, true)} {
			f := mustDecode(t, b, &pol)
			want := reason.None
			if f.FragOffset == 0 {
				want = reason.FilterBlocked
			}
			if got := r.Submit(1, 0, f, now, judge); got != want {
				t.Fatalf("Submit = %v, want %v", got, want)
			}
		}
		if !bytes.Equal(seen, d.seg) {
			t.Fatalf("judge saw %d bytes of transport, want the %d-byte datagram", len(seen), len(d.seg))
		}
		if len(sink.released) != 0 || len(sink.dropped) != 1 || sink.dropped[0].reason != reason.FilterBlocked {
			t.Fatalf("released %d, dropped %v", len(sink.released), sink.dropped)
		}
	})
}

// The order H, F2, F3, F4, F5, F6, F7: one fragment breaking several rules
// is charged to the first.
func TestRuleOrder(t *testing.T) {
	def := config.Default()
	d := tcpDatagram(false, 0xb00b, 3000)
	d6 := tcpDatagram(true, 0xb00c, 2000)
	small := config.Default()
	small.MaxFragments = 1
	cases := []struct {
		name  string
		pol   config.Policy
		held  []byte
		frame []byte
		want  reason.Reason
	}{
		{"F2 DF before F2 length and F3", def, nil, d.fragWith(65512, 12, true, fragOpts{df: true, data: make([]byte, 12)}), reason.FragDontFragment},
		{"F2 before F3", def, nil, d.fragWith(65512, 12, true, fragOpts{data: make([]byte, 12)}), reason.FragBadLength},
		{"F3 before F4", def, d.frag(1000, 600, true), d6.fragWith(65528, 16, true, fragOpts{data: make([]byte, 16)}), reason.FragTooLarge},
		{"F4 before F5 and F6", def, d.frag(8, 600, true), d.frag(0, 16, true), reason.FragOverlap},
		{"F5 before F6", def, nil, d.frag(0, 16, true), reason.FragFirstIncomplete},
		{"F6 before F7", small, d.frag(1000, 600, true), d.frag(1600, 400, true), reason.FragTooSmall},
		{"F7", small, d.frag(1000, 600, true), d.frag(1600, 600, true), reason.FragTooMany},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink := &recorder{}
			r := New(&c.pol, sink)
			now := time.Unix(100, 0)
			if c.held != nil {
				if got := r.Submit(0, 0, mustDecode(t, c.held, &c.pol), now, acceptAll); got != reason.None {
					t.Fatalf("held fragment: %v", got)
				}
			}
			if got := r.Submit(0, 0, mustDecode(t, c.frame, &c.pol), now, acceptAll); got != c.want {
				t.Fatalf("Submit = %v, want %v", got, c.want)
			}
		})
	}
}

// The key: VLAN, addresses, IP ID, and for IPv4 the protocol.
func TestReassemblyKey(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		d := udpDatagram(v6, 0xc00c, 40)
		tagged := *d
		tagged.vlan = 6
		otherID := *d
		otherID.id++
		frames := map[string][]byte{
			"a":        d.frag(0, 16, true),
			"b":        d.frag(16, 16, true),
			"c":        d.frag(32, 16, false),
			"b-vlan":   tagged.frag(16, 16, true),
			"b-otheid": otherID.frag(16, 16, true),
		}
		runTable(t, relaxed(), frames, []event{
			{frame: "a"}, {frame: "c"},
			{frame: "b-vlan"}, {frame: "b-otheid"},
			{frame: "b", released: []string{"a", "b", "c"}},
		})
	})
	// IPv4: the protocol is part of the key.
	u := udpDatagram(false, 0xc00d, 40)
	tcp := *u
	tcp.proto = 6
	runTable(t, relaxed(), map[string][]byte{
		"a": u.frag(0, 16, true), "b": u.frag(16, 16, true), "c": u.frag(32, 16, false),
		"b-tcp": tcp.frag(16, 16, true),
	}, []event{
		{frame: "a"}, {frame: "c"}, {frame: "b-tcp"},
		{frame: "b", released: []string{"a", "b", "c"}},
	})
}

// A fragment breaking H2–H4 kills its datagram; one breaking H1 is dropped
// alone and its datagram can still complete.
func TestHeaderRulesAndDatagram(t *testing.T) {
	pol := relaxed()
	d := udpDatagram(false, 0xd00d, 40)
	lsrr := *d
	lsrr.ipOpts = []byte{131, 7, 4, 192, 0, 2, 99, 0} // loose source route
	now := time.Unix(100, 0)
	sink := &recorder{}
	r := New(&pol, sink)
	submit := func(b []byte) reason.Reason { return r.Submit(0, 0, mustDecode(t, b, &pol), now, acceptAll) }
	if got := submit(d.frag(0, 16, true)); got != reason.None {
		t.Fatal(got)
	}
	f := new(packet.Frame)
	why := f.Decode(lsrr.frag(16, 16, true), &pol)
	if why != reason.IPSourceRoute || !f.Fragment {
		t.Fatalf("decode of the source-routed fragment: %v fragment=%v", why, f.Fragment)
	}
	r.Reject(f, why, now)
	if len(sink.dropped) != 1 || sink.dropped[0].reason != reason.IPSourceRoute {
		t.Fatalf("held fragment not dropped under H3: %v", sink.dropped)
	}
	if got := submit(d.frag(32, 16, false)); got != reason.IPSourceRoute {
		t.Fatalf("later fragment: %v, want the dead datagram's reason", got)
	}

	// H1: a fragment with a bad header checksum says nothing about the datagram.
	d2 := udpDatagram(false, 0xd00e, 40)
	sink.reset()
	if got := submit(d2.frag(0, 16, true)); got != reason.None {
		t.Fatal(got)
	}
	bad := d2.frag(16, 16, true)
	bad[14+10] ^= 0xff
	f = new(packet.Frame)
	why = f.Decode(bad, &pol)
	if why.Rule() != "H1" {
		t.Fatalf("corrupted header decoded as %v", why)
	}
	r.Reject(f, why, now)
	submit(d2.frag(32, 16, false))
	if got := submit(d2.frag(16, 16, true)); got != reason.None || len(sink.released) != 3 || len(sink.dropped) != 0 {
		t.Fatalf("datagram after an H1 fragment: %v, released %d, dropped %d", got, len(sink.released), len(sink.dropped))
	}
}

// The whole datagram the filter sees is the packet the receiving host
// reassembles: IPv4 without MF and offset, with its total length and a
// valid header checksum; IPv6 without the fragment header, the header
// before it naming the upper layer, even behind other extension headers.
func TestWholeDatagramForm(t *testing.T) {
	for _, c := range []struct {
		name string
		v6   bool
		ext  []byte
	}{{"v4", false, nil}, {"v6", true, nil}, {"v6 with destination options", true, []byte{0, 0, 1, 4, 0, 0, 0, 0}}} {
		t.Run(c.name, func(t *testing.T) {
			pol := relaxed()
			d := udpDatagram(c.v6, 0xe00e, 1000)
			d.unfrag6 = c.ext
			d.vlan = 42
			frames := [][]byte{d.frag(0, 504, true), d.frag(504, 504, false)}
			r := New(&pol, &recorder{})
			var checked bool
			judge := func(w *packet.Frame, _ packet.Direction) reason.Reason {
				checked = true
				if w.Fragment || w.Atomic || w.Proto != 17 || w.NumVLAN != 1 || w.VLANTCI[0]&0xfff != 42 {
					t.Errorf("whole: fragment=%v atomic=%v proto=%d vlan=%d", w.Fragment, w.Atomic, w.Proto, w.VLANTCI[0])
				}
				if !bytes.Equal(w.Data[w.L4Off:w.L3End], d.seg) || w.L3End != len(w.Data) {
					t.Errorf("whole transport segment differs")
				}
				hdr := 20
				if c.v6 {
					hdr = 40 + len(c.ext)
				}
				if w.L3End-w.L3Off != hdr+len(d.seg) {
					t.Errorf("whole IP packet is %d bytes, want %d", w.L3End-w.L3Off, hdr+len(d.seg))
				}
				return reason.None
			}
			now := time.Unix(100, 0)
			for _, b := range frames {
				f := mustDecode(t, b, &pol) // Decode verifies the IPv4 header checksum (H1)
				if got := r.Submit(0, 0, f, now, judge); got != reason.None {
					t.Fatalf("Submit = %v", got)
				}
			}
			if !checked {
				t.Fatal("judge never called")
			}
		})
	}
}

// SetPolicy: datagrams in reassembly keep the knobs they began with; new
// datagrams get the new ones.
func TestSetPolicyAppliesToNewDatagrams(t *testing.T) {
	eachIP(t, func(t *testing.T, v6 bool) {
		pol := relaxed()
		sink := &recorder{}
		r := New(&pol, sink)
		old := udpDatagram(v6, 0xf00f, 40)
		fresh := udpDatagram(v6, 0xf010, 40)
		now := time.Unix(100, 0)
		submit := func(b []byte) reason.Reason { return r.Submit(0, 0, mustDecode(t, b, &pol), now, acceptAll) }
		if got := submit(old.frag(0, 16, true)); got != reason.None {
			t.Fatal(got)
		}
		strict := config.Default()
		strict.FragmentTimeout = time.Second
		r.SetPolicy(&strict)
		now = now.Add(2 * time.Second) // past the new timeout, within the old one
		if got := submit(old.frag(16, 16, true)); got != reason.None {
			t.Fatalf("old datagram under the new minimum: %v", got)
		}
		if got := submit(old.frag(32, 16, false)); got != reason.None || len(sink.released) != 3 {
			t.Fatalf("old datagram: %v, released %d", got, len(sink.released))
		}
		if got := submit(fresh.frag(0, 16, true)); got != reason.FragTooSmall {
			t.Fatalf("new datagram: %v, want F6 under the new policy", got)
		}
	})
}

// F9: an IPv6 atomic fragment decodes as a whole packet and never enters
// reassembly; handing the reassembler anything but a fragment is a
// programming error it refuses loudly rather than hold.
func TestF9AtomicFragmentsNeverEnter(t *testing.T) {
	pol := relaxed()
	d := udpDatagram(true, 0x9009, 40)
	f := mustDecode(t, d.frag(0, len(d.seg), false), &pol)
	if f.Fragment || !f.Atomic {
		t.Fatalf("atomic fragment decoded as fragment=%v atomic=%v", f.Fragment, f.Atomic)
	}
	r := New(&pol, &recorder{})
	defer func() {
		if recover() == nil {
			t.Fatal("Submit took a whole packet")
		}
		if s := r.Stats(); s.DatagramsHeld != 0 || s.DeadRemembered != 0 {
			t.Fatalf("state after a refused whole packet: %+v", s)
		}
	}()
	r.Submit(0, 0, f, time.Unix(1, 0), acceptAll)
}

// F3 on the rebuilt datagram: an IPv4 first fragment whose options make its
// header longer than the others' can push the whole past 65,535 bytes
// although every fragment passes F3 on its own.
func TestF3WholeDatagramWithLongFirstHeader(t *testing.T) {
	pol := relaxed()
	sink := &recorder{}
	r := New(&pol, sink)
	d := udpDatagram(false, 0x3333, 65515-8) // 20 + 65515 = 65535 for the last fragment
	now := time.Unix(100, 0)
	submit := func(b []byte) reason.Reason { return r.Submit(0, 0, mustDecode(t, b, &pol), now, acceptAll) }
	const step = 1480
	n := len(d.seg)
	var got reason.Reason
	for off := 0; off < n; off += step {
		d.ipOpts = nil
		if off == 0 {
			d.ipOpts = bytes.Repeat([]byte{1}, 40) // 40 bytes of NOP options: a 60-byte header
		}
		got = submit(d.frag(off, min(step, n-off), off+step < n))
		if off+step < n && got != reason.None {
			t.Fatalf("fragment at %d: %v", off, got)
		}
	}
	if got != reason.FragTooLarge {
		t.Fatalf("completing fragment: %v, want F3", got)
	}
	if len(sink.released) != 0 || len(sink.dropped) != (n+step-1)/step-1 {
		t.Fatalf("released %d, dropped %d", len(sink.released), len(sink.dropped))
	}
	for _, dr := range sink.dropped {
		if dr.reason != reason.FragTooLarge {
			t.Fatalf("held fragment dropped as %v", dr.reason)
		}
	}
}
