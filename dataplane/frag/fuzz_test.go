package frag

import (
	"encoding/binary"
	"slices"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// fuzzSink checks every release as it happens.
type fuzzSink struct {
	t        *testing.T
	pol      *config.Policy
	released int
	dropped  int
	batch    [][]byte
}

func (s *fuzzSink) Release(port uint8, frame []byte) {
	s.released++
	s.batch = append(s.batch, append([]byte(nil), frame...))
}

func (s *fuzzSink) Drop(port uint8, frame []byte, r reason.Reason, f *packet.Frame) {
	if r == reason.None {
		s.t.Fatal("Drop with no reason")
	}
	s.dropped++
}

// FuzzReassembler drives a Reassembler with fragments of three datagrams
// (IPv4 and IPv6, two sharing a source) cut, corrupted and reordered as the
// input says, and clock moves. Invariants: no panic; memory and tables stay
// within their bounds after every step; what is released is, per datagram,
// frames that were submitted, in offset order, covering the datagram from 0
// to its final fragment without overlap, with a valid UDP checksum; every
// fragment taken is in the end released or dropped exactly once.
func FuzzReassembler(f *testing.F) {
	f.Fuzz(func(t *testing.T, in []byte) {
		pol := relaxed()
		pol.FragmentMemory = 12 << 10
		pol.PerSourceFloor = 3 << 10
		pol.MaxDatagrams = 4
		pol.MaxSources = 4
		pol.MaxFragments = 24 // above smallFrags: the grown fragment list is exercised too
		pol.FragmentRate = 0
		if len(in) > 0 && in[0]&1 == 1 {
			pol.FragmentRate, pol.FragmentBurst = 50, 10
		}
		specs := []*datagramSpec{udpDatagram(false, 1, 180), udpDatagram(true, 2, 180), udpDatagram(false, 3, 180)}
		specs[2].src = addr4(77)
		specs[2].fixChecksum()
		sink := &fuzzSink{t: t, pol: &pol}
		r := New(&pol, sink)
		now := time.Unix(5000, 0)
		submitted := map[string]int{}
		taken := 0
		next := func() byte {
			if len(in) == 0 {
				return 0
			}
			b := in[0]
			in = in[1:]
			return b
		}
		for len(in) > 0 {
			op := next()
			if op%4 == 3 {
				now = now.Add(time.Duration(next()) * 50 * time.Millisecond)
				r.Expire(now)
			} else {
				d := specs[int(next())%len(specs)]
				n := len(d.seg)
				off := 8 * (int(next()) % (n/8 + 1))
				ln := 8 * (int(next())%6 + 1)
				flags := next()
				if flags&1 != 0 {
					ln -= int(flags>>1) % 8 // lengths that are no multiple of 8
				}
				end := min(off+ln, n)
				more := end < n
				if flags&16 != 0 {
					more = !more
				}
				o := fragOpts{ttl: flags | 1}
				if flags&32 != 0 && end > off {
					o.data = append([]byte(nil), d.seg[off:end]...)
					o.data[int(flags)%len(o.data)]++
				}
				if end < off {
					end = off
				}
				if o.data == nil {
					o.data = d.seg[off:end]
				}
				frame := d.fragWith(off, end-off, more, o)
				fr := new(packet.Frame)
				if fr.Decode(frame, &pol) != reason.None || !fr.Fragment {
					continue
				}
				sink.batch = sink.batch[:0]
				rr := r.Submit(0, packet.Direction(flags>>7), fr, now, acceptAll)
				submitted[string(frame)]++
				if rr == reason.None {
					taken++
				}
				if len(sink.batch) > 0 {
					checkReleased(t, &pol, sink.batch, submitted)
				}
			}
			if err := r.checkInvariants(); err != nil {
				t.Fatal(err)
			}
			s := r.Stats()
			if s.BytesHeld > s.Budget || s.BytesPooled > s.Budget || s.BytesHeld < 0 {
				t.Fatalf("memory: held %d pooled %d budget %d", s.BytesHeld, s.BytesPooled, s.Budget)
			}
			if s.DatagramsHeld+s.DeadRemembered > pol.MaxDatagrams || s.SourcesTracked > pol.MaxSources {
				t.Fatalf("tables: %+v", s)
			}
		}
		r.Expire(now.Add(time.Hour))
		if s := r.Stats(); s.BytesHeld != 0 || s.DatagramsHeld != 0 || s.FragmentsHeld != 0 {
			t.Fatalf("state left after every deadline: %+v", s)
		}
		if taken != sink.released+sink.dropped {
			t.Fatalf("%d fragments taken, %d released + %d dropped", taken, sink.released, sink.dropped)
		}
	})
}

// checkReleased verifies one datagram's released fragments.
func checkReleased(t *testing.T, pol *config.Policy, batch [][]byte, submitted map[string]int) {
	t.Helper()
	var whole []byte
	var key datagramKey
	for i, b := range batch {
		if submitted[string(b)] == 0 {
			t.Fatalf("released a frame that was never submitted")
		}
		f := new(packet.Frame)
		if f.Decode(b, pol) != reason.None || !f.Fragment {
			t.Fatalf("released frame %d is not a fragment", i)
		}
		if i == 0 {
			key = keyOf(f)
		} else if keyOf(f) != key {
			t.Fatalf("one release mixes datagrams")
		}
		if f.FragOffset != len(whole) {
			t.Fatalf("released fragment at %d after %d bytes: hole, overlap or wrong order", f.FragOffset, len(whole))
		}
		if f.MoreFrags == (i == len(batch)-1) {
			t.Fatalf("final flag of released fragment %d of %d wrong", i, len(batch))
		}
		whole = append(whole, f.Data[f.FragDataOff:f.FragDataOff+f.FragDataLen]...)
	}
	if len(whole) < 8 || int(binary.BigEndian.Uint16(whole[4:])) != len(whole) {
		t.Fatalf("released datagram of %d bytes with a wrong UDP length", len(whole))
	}
	f := new(packet.Frame)
	f.Decode(batch[0], pol)
	c := binary.BigEndian.Uint16(whole[6:])
	seg := slices.Clone(whole)
	seg[6], seg[7] = 0, 0
	if want := transportSum(f.Src, f.Dst, 17, seg); want != c && !(want == 0 && c == 0xffff) {
		t.Fatalf("released datagram with a wrong checksum")
	}
}
