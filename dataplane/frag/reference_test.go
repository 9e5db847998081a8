package frag

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// refReassembler is the obviously-correct model the fast Reassembler is
// checked against: no pools, no sorting, no counters. Each datagram is a
// list of fragments in arrival order and a byte map; every rule is a linear
// scan. It knows only what the random sequences use (UDP, no extension
// headers, no memory or rate limits).
type refReassembler struct {
	pol      config.Policy
	dgs      map[refKey]*refDatagram
	released [][]byte
	dropped  []dropped
}

type refKey struct {
	v6       bool
	src, dst netip.Addr
	id       uint32
	proto    uint8
	vlan     uint16
}

type refDatagram struct {
	born     time.Time
	dead     reason.Reason
	frags    []refFragment
	minBytes int
	maxFrags int
}

type refFragment struct {
	frame     []byte
	off, end  int
	last      bool
	payload   []byte
	firstHdrs []byte // link + IP header of an offset-0 fragment
	port      uint8
}

func newRef(pol config.Policy) *refReassembler {
	return &refReassembler{pol: pol, dgs: map[refKey]*refDatagram{}}
}

func (m *refReassembler) expire(now time.Time) {
	for k, d := range m.dgs {
		if now.Sub(d.born) > m.pol.FragmentTimeout {
			if d.dead == reason.None {
				for _, h := range d.frags {
					m.dropped = append(m.dropped, dropped{h.frame, reason.FragTimeout})
				}
			}
			delete(m.dgs, k)
		}
	}
}

func (m *refReassembler) kill(d *refDatagram, r reason.Reason) reason.Reason {
	for _, h := range d.frags {
		m.dropped = append(m.dropped, dropped{h.frame, r})
	}
	d.frags = nil
	d.dead = r
	return r
}

func (m *refReassembler) submit(port uint8, f *packet.Frame, now time.Time) reason.Reason {
	m.expire(now)
	var vlan uint16
	if f.NumVLAN > 0 {
		vlan = f.VLANTCI[0] & 0xfff
	}
	k := refKey{v6: f.IPVersion == 6, src: f.Src, dst: f.Dst, id: f.IPID, vlan: vlan}
	if !k.v6 {
		k.proto = f.Proto
	}
	d := m.dgs[k]
	if d != nil && d.dead != reason.None {
		return d.dead
	}
	fail := func(r reason.Reason) reason.Reason {
		if d == nil {
			m.dgs[k] = &refDatagram{born: now, dead: r}
			return r
		}
		return m.kill(d, r)
	}
	off, n := f.FragOffset, f.FragDataLen
	end := off + n
	last := !f.MoreFrags
	payload := f.Data[f.FragDataOff : f.FragDataOff+n]
	// F2
	if !k.v6 && f.DontFrag {
		return fail(reason.FragDontFragment)
	}
	if n == 0 || !last && n%8 != 0 {
		return fail(reason.FragBadLength)
	}
	// F3
	limit := end
	if !k.v6 {
		limit += f.IPHdrLen
	}
	if limit > 65535 {
		return fail(reason.FragTooLarge)
	}
	// F4
	if d != nil {
		finalEnd := -1
		for _, h := range d.frags {
			if h.last {
				finalEnd = h.end
			}
		}
		for _, h := range d.frags {
			if h.off < end && off < h.end {
				if h.off == off && h.end == end && h.last == last && bytes.Equal(h.payload, payload) {
					return reason.FragDuplicate
				}
				return fail(reason.FragOverlap)
			}
		}
		for _, h := range d.frags {
			if last && h.end > end || !last && finalEnd >= 0 && end >= finalEnd {
				return fail(reason.FragOverlap)
			}
		}
		if last && finalEnd >= 0 && finalEnd != end {
			return fail(reason.FragOverlap)
		}
	}
	// F5 (UDP: the 8-byte header)
	if off == 0 && n < 8 {
		return fail(reason.FragFirstIncomplete)
	}
	minBytes, maxFrags := m.pol.MinFragmentBytesV4, m.pol.MaxFragments
	if k.v6 {
		minBytes = m.pol.MinFragmentBytesV6
	}
	if d != nil {
		minBytes, maxFrags = d.minBytes, d.maxFrags
	}
	// F6
	if !last && minBytes > 0 && f.L3End-f.L3Off < minBytes {
		return fail(reason.FragTooSmall)
	}
	// F7
	count := 1
	if d != nil {
		count += len(d.frags)
	}
	if count > maxFrags {
		return fail(reason.FragTooMany)
	}
	if d == nil {
		d = &refDatagram{born: now, minBytes: minBytes, maxFrags: maxFrags}
		m.dgs[k] = d
	}
	h := refFragment{frame: append([]byte(nil), f.Data...), off: off, end: end, last: last, payload: append([]byte(nil), payload...), port: port}
	d.frags = append(d.frags, h)

	// Complete? A final fragment and every byte before it present.
	total := -1
	for _, h := range d.frags {
		if h.last {
			total = h.end
		}
	}
	if total < 0 {
		return reason.None
	}
	whole := make([]byte, total)
	have := make([]bool, total)
	for _, h := range d.frags {
		copy(whole[h.off:], h.payload)
		for i := h.off; i < h.end; i++ {
			have[i] = true
		}
	}
	if slices.Contains(have, false) {
		return reason.None
	}
	// F10: UDP length and checksum of the whole.
	verdict := reason.None
	if int(binary.BigEndian.Uint16(whole[4:6])) != total {
		verdict = reason.UDPLengthInvalid
	} else if c := binary.BigEndian.Uint16(whole[6:8]); !(c == 0 && !k.v6) {
		whole[6], whole[7] = 0, 0
		want := transportSum(f.Src, f.Dst, 17, whole)
		if want == 0 {
			want = 0xffff
		}
		if want != c {
			verdict = reason.FragChecksum
		}
	}
	if verdict != reason.None {
		// The submitted fragment is the caller's to drop.
		d.frags = d.frags[:len(d.frags)-1]
		return m.kill(d, verdict)
	}
	sorted := slices.Clone(d.frags)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].off < sorted[j].off })
	for _, h := range sorted {
		m.released = append(m.released, h.frame)
	}
	delete(m.dgs, k)
	return reason.None
}

// randomSequence builds a random fragment sequence of one to three UDP
// datagrams: random cuts, drops, duplicates (with other TTLs), overlaps with
// equal or different bytes, corrupted copies, bad lengths, DF, and clock
// moves. Each step is a frame or (nil) an Expire.
type step struct {
	frame []byte
	after time.Duration
}

func randomSequence(rng *rand.Rand) (config.Policy, []step) {
	pol := relaxed()
	pol.FragmentRate = 0
	pol.MaxSources, pol.MaxDatagrams = 64, 64 // far above what a sequence uses: no evictions
	pol.MaxFragments = 2 + rng.IntN(20)
	switch rng.IntN(3) {
	case 0:
		pol.MinFragmentBytesV4, pol.MinFragmentBytesV6 = 60+rng.IntN(80), 80+rng.IntN(80)
	}
	v6 := rng.IntN(2) == 0
	clean := rng.IntN(3) == 0 // only reordering and duplicates: these should mostly pass
	var steps []step
	for dg := 0; dg < 1+rng.IntN(3); dg++ {
		d := udpDatagram(v6, uint32(rng.IntN(3)), 1+rng.IntN(400))
		if c := binary.BigEndian.Uint16(d.seg[6:]); c == 0 {
			d.seg[6], d.seg[7] = 0xff, 0xff
		}
		if rng.IntN(4) == 0 {
			d.vlan = uint16(1 + rng.IntN(2))
		}
		n := len(d.seg)
		// Random 8-aligned cut points.
		cuts := []int{0}
		for c := 8 * (1 + rng.IntN(6)); c < n; c += 8 * (1 + rng.IntN(12)) {
			cuts = append(cuts, c)
		}
		cuts = append(cuts, n)
		for i := 0; i+1 < len(cuts); i++ {
			off, end := cuts[i], cuts[i+1]
			more := end < n
			o := fragOpts{}
			x := rng.IntN(40)
			if clean {
				x = 40
			}
			switch {
			case x == 0:
				continue // lost
			case x == 1 && !v6:
				o.df = true
			case x == 2:
				o.data = append([]byte(nil), d.seg[off:end]...)
				o.data[rng.IntN(len(o.data))] ^= 0x5a // corrupt in place: checksum
			}
			if x := rng.IntN(30); x == 0 && !clean && more && end-off > 8 {
				end -= 3 // a non-final length that is no multiple of 8
			}
			steps = append(steps, step{frame: d.fragWith(off, end-off, more, o)})
			if rng.IntN(6) == 0 {
				o.ttl = uint8(1 + rng.IntN(200))
				steps = append(steps, step{frame: d.fragWith(off, end-off, more, o)}) // duplicate
			}
		}
		for j := rng.IntN(3); j > 0 && !clean; j-- {
			off := 8 * rng.IntN((n+7)/8)
			end := min(n, off+8*(1+rng.IntN(8)))
			more := end < n
			o := fragOpts{ttl: uint8(1 + rng.IntN(200))}
			if rng.IntN(2) == 0 {
				o.data = bytes.Repeat([]byte{byte(rng.Uint32())}, end-off)
			}
			steps = append(steps, step{frame: d.fragWith(off, end-off, more, o)})
		}
	}
	rng.Shuffle(len(steps), func(i, j int) { steps[i], steps[j] = steps[j], steps[i] })
	for i := range steps {
		if rng.IntN(8) == 0 {
			steps[i].after = time.Duration(rng.IntN(3000)) * time.Millisecond
		}
	}
	steps = append(steps, step{after: 6 * time.Second})
	return pol, steps
}

type frameSet []dropped

func (s frameSet) sorted() []string {
	var out []string
	for _, d := range s {
		out = append(out, fmt.Sprintf("%x/%v", d.frame, d.reason))
	}
	sort.Strings(out)
	return out
}

// The fast Reassembler and the reference agree on every verdict, every
// released frame (in order) and every dropped frame, over thousands of
// random sequences.
func TestMatchesReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(2026, 11))
	sequences := 4000
	if testing.Short() {
		sequences = 500
	}
	var released, drops, verdicts int
	for seq := 0; seq < sequences; seq++ {
		pol, steps := randomSequence(rng)
		sink := &recorder{}
		fast := New(&pol, sink)
		ref := newRef(pol)
		now := time.Unix(1000, 0)
		for i, st := range steps {
			now = now.Add(st.after)
			sink.reset()
			ref.released, ref.dropped = nil, nil
			var got, want reason.Reason
			if st.frame == nil {
				fast.Expire(now)
				ref.expire(now)
			} else {
				f := new(packet.Frame)
				if r := f.Decode(st.frame, &pol); r != reason.None || !f.Fragment {
					// A cut that decodes as a whole packet is not a fragment.
					continue
				}
				got = fast.Submit(0, packet.In, f, now, acceptAll)
				f2 := new(packet.Frame)
				f2.Decode(st.frame, &pol)
				want = ref.submit(0, f2, now)
			}
			if got != want {
				t.Fatalf("sequence %d step %d: Submit = %v, reference %v", seq, i, got, want)
			}
			if len(sink.released) != len(ref.released) {
				t.Fatalf("sequence %d step %d: released %d frames, reference %d", seq, i, len(sink.released), len(ref.released))
			}
			for j := range ref.released {
				if !bytes.Equal(sink.released[j], ref.released[j]) {
					t.Fatalf("sequence %d step %d: released frame %d differs", seq, i, j)
				}
			}
			if a, b := frameSet(sink.dropped).sorted(), frameSet(ref.dropped).sorted(); !slices.Equal(a, b) {
				t.Fatalf("sequence %d step %d: dropped\n%v\nreference\n%v", seq, i, a, b)
			}
			if err := fast.checkInvariants(); err != nil {
				t.Fatalf("sequence %d step %d: %v", seq, i, err)
			}
			released += len(ref.released)
			drops += len(ref.dropped)
			if want != reason.None {
				verdicts++
			}
		}
		if s := fast.Stats(); s.BytesHeld != 0 || s.DatagramsHeld != 0 {
			t.Fatalf("sequence %d: %d bytes in %d datagrams left after the last deadline", seq, s.BytesHeld, s.DatagramsHeld)
		}
	}
	// The sequences must exercise both outcomes, or the comparison proves little.
	if released < sequences/2 || drops < sequences || verdicts < sequences {
		t.Fatalf("weak coverage: %d released, %d dropped, %d refused", released, drops, verdicts)
	}
	t.Logf("%d sequences: %d frames released, %d held frames dropped, %d submissions refused", sequences, released, drops, verdicts)
}
