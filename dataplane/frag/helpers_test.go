package frag

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// datagramSpec describes one datagram the tests cut into fragments: its
// addresses, IP ID, protocol and the whole transport segment (header and
// payload, checksum already right).
type datagramSpec struct {
	v6       bool
	src, dst netip.Addr
	id       uint32
	proto    uint8
	seg      []byte
	vlan     uint16 // 0: untagged
	srcMAC   [6]byte
	ipOpts   []byte // IPv4 options in every fragment
	unfrag6  []byte // IPv6: extension headers before the fragment header (their first next-header byte is set to 44 here)
}

var (
	v4Src = netip.MustParseAddr("192.0.2.1")
	v4Dst = netip.MustParseAddr("198.51.100.7")
	v6Src = netip.MustParseAddr("2001:db8:1::2")
	v6Dst = netip.MustParseAddr("2001:db8:1::1")
)

// udpDatagram returns a UDP datagram with n payload bytes of a pattern
// seeded by id, so different datagrams have different bytes.
func udpDatagram(v6 bool, id uint32, n int) *datagramSpec {
	d := &datagramSpec{v6: v6, id: id, proto: 17, srcMAC: [6]byte{2, 0, 0, 0, 0, 1}}
	d.src, d.dst = v4Src, v4Dst
	if v6 {
		d.src, d.dst = v6Src, v6Dst
	}
	seg := make([]byte, 8+n)
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 53)
	binary.BigEndian.PutUint16(seg[4:], uint16(len(seg)))
	for i := 8; i < len(seg); i++ {
		seg[i] = byte(int(id)*7 + i*13)
	}
	d.seg = seg
	d.fixChecksum()
	return d
}

// tcpDatagram returns a TCP segment (ACK|PSH) with n payload bytes.
func tcpDatagram(v6 bool, id uint32, n int) *datagramSpec {
	d := udpDatagram(v6, id, 0)
	d.proto = 6
	seg := make([]byte, 20+n)
	binary.BigEndian.PutUint16(seg[0:], 40000)
	binary.BigEndian.PutUint16(seg[2:], 443)
	binary.BigEndian.PutUint32(seg[4:], 1000)
	binary.BigEndian.PutUint32(seg[8:], 2000)
	seg[12] = 5 << 4
	seg[13] = 0x18
	binary.BigEndian.PutUint16(seg[14:], 65535)
	for i := 20; i < len(seg); i++ {
		seg[i] = byte(int(id)*3 + i*11)
	}
	d.seg = seg
	d.fixChecksum()
	return d
}

func (d *datagramSpec) checksumOffset() int {
	switch d.proto {
	case 6:
		return 16
	case 17:
		return 6
	}
	return 2
}

// fixChecksum sets the transport checksum over the whole segment.
func (d *datagramSpec) fixChecksum() {
	off := d.checksumOffset()
	d.seg[off], d.seg[off+1] = 0, 0
	c := transportSum(d.src, d.dst, d.proto, d.seg)
	binary.BigEndian.PutUint16(d.seg[off:], c)
}

// transportSum is the Internet checksum of seg with the pseudo header
// (none for ICMPv4), written here independently of the packet package.
func transportSum(src, dst netip.Addr, proto uint8, seg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	if proto != 1 {
		if src.Is4() {
			a, b := src.As4(), dst.As4()
			add(a[:])
			add(b[:])
		} else {
			a, b := src.As16(), dst.As16()
			add(a[:])
			add(b[:])
		}
		sum += uint32(proto) + uint32(len(seg)>>16) + uint32(len(seg)&0xffff)
	}
	add(seg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// fragOpts vary one fragment from the plain cut.
type fragOpts struct {
	ttl  uint8  // 0: 64
	df   bool   // IPv4 DF
	data []byte // payload instead of the datagram's bytes at off
	pad  int    // Ethernet padding after the IP packet
}

// frag cuts bytes [off, off+n) of the segment into a fragment frame.
func (d *datagramSpec) frag(off, n int, more bool) []byte {
	return d.fragWith(off, n, more, fragOpts{})
}

func (d *datagramSpec) fragWith(off, n int, more bool, o fragOpts) []byte {
	data := o.data
	if data == nil {
		data = d.seg[off : off+n]
	}
	ttl := o.ttl
	if ttl == 0 {
		ttl = 64
	}
	var b []byte
	b = append(b, 0x02, 0, 0, 0, 0, 0x02)
	b = append(b, d.srcMAC[:]...)
	if d.vlan != 0 {
		b = append(b, 0x81, 0x00, byte(d.vlan>>8), byte(d.vlan))
	}
	if d.v6 {
		b = append(b, 0x86, 0xdd)
		u := len(d.unfrag6)
		ip := make([]byte, 48+u)
		ip[0] = 0x60
		binary.BigEndian.PutUint16(ip[4:], uint16(u+8+len(data)))
		ip[6] = 44
		if u > 0 {
			ip[6] = 60 // destination options, then the fragment header
			copy(ip[40:], d.unfrag6)
			ip[40] = 44
		}
		ip[7] = ttl
		s, t := d.src.As16(), d.dst.As16()
		copy(ip[8:], s[:])
		copy(ip[24:], t[:])
		ip[40+u] = d.proto
		fo := uint16(off) &^ 7
		if more {
			fo |= 1
		}
		binary.BigEndian.PutUint16(ip[42+u:], fo)
		binary.BigEndian.PutUint32(ip[44+u:], d.id)
		b = append(b, ip...)
	} else {
		b = append(b, 0x08, 0x00)
		hl := 20 + len(d.ipOpts)
		ip := make([]byte, hl)
		ip[0] = 0x40 | byte(hl/4)
		binary.BigEndian.PutUint16(ip[2:], uint16(hl+len(data)))
		binary.BigEndian.PutUint16(ip[4:], uint16(d.id))
		fo := uint16(off / 8)
		if more {
			fo |= 0x2000
		}
		if o.df {
			fo |= 0x4000
		}
		binary.BigEndian.PutUint16(ip[6:], fo)
		ip[8] = ttl
		ip[9] = d.proto
		s, t := d.src.As4(), d.dst.As4()
		copy(ip[12:], s[:])
		copy(ip[16:], t[:])
		copy(ip[20:], d.ipOpts)
		binary.BigEndian.PutUint16(ip[10:], ipv4HeaderChecksum(ip))
		b = append(b, ip...)
	}
	b = append(b, data...)
	b = append(b, make([]byte, o.pad)...)
	return b
}

// mustDecode decodes a crafted frame as the dataplane would.
func mustDecode(t testing.TB, frame []byte, p *config.Policy) *packet.Frame {
	t.Helper()
	f := new(packet.Frame)
	if r := f.Decode(frame, p); r != reason.None {
		t.Fatalf("decode: %v", r)
	}
	return f
}

// recorder is a Sink that keeps copies of what it is given.
type recorder struct {
	released [][]byte
	dropped  []dropped
	checkF   bool
}

type dropped struct {
	frame  []byte
	reason reason.Reason
}

func (s *recorder) Release(port uint8, frame []byte) {
	s.released = append(s.released, append([]byte(nil), frame...))
}

func (s *recorder) Drop(port uint8, frame []byte, r reason.Reason, f *packet.Frame) {
	if f == nil || !f.Fragment || len(f.Data) != len(frame) {
		panic("frag test: Drop without the fragment's decoded view")
	}
	s.dropped = append(s.dropped, dropped{append([]byte(nil), frame...), r})
}

func (s *recorder) reset() {
	s.released = s.released[:0]
	s.dropped = s.dropped[:0]
}

func acceptAll(*packet.Frame, packet.Direction) reason.Reason { return reason.None }

// event is one step of an event table: the clock moves by after, then
// either a fragment is submitted or (frame empty) Expire runs. The outcome
// is what Submit returned, which frames the sink released (in order) and
// which it dropped with which reason.
type event struct {
	after    time.Duration
	frame    string // name in the table's frame set; "" means Expire
	port     uint8
	dir      packet.Direction
	want     reason.Reason
	released []string
	dropped  []string // "name:reason"
}

// table runs events against a fresh Reassembler under pol.
func runTable(t *testing.T, pol config.Policy, frames map[string][]byte, events []event) *Reassembler {
	t.Helper()
	sink := &recorder{}
	r := New(&pol, sink)
	names := map[string]string{}
	for name, b := range frames {
		if other, dup := names[string(b)]; dup {
			t.Fatalf("frames %s and %s are byte-identical; give them different TTLs", name, other)
		}
		names[string(b)] = name
	}
	now := time.Unix(1_700_000_000, 0)
	for i, ev := range events {
		now = now.Add(ev.after)
		sink.reset()
		var got reason.Reason
		what := "expire"
		if ev.frame == "" {
			r.Expire(now)
		} else {
			b, ok := frames[ev.frame]
			if !ok {
				t.Fatalf("event %d: no frame %q", i, ev.frame)
			}
			what = ev.frame
			f := mustDecode(t, append([]byte(nil), b...), &pol)
			if !f.Fragment {
				t.Fatalf("event %d: %s is not a fragment", i, ev.frame)
			}
			got = r.Submit(ev.port, ev.dir, f, now, acceptAll)
		}
		if got != ev.want {
			t.Errorf("event %d (%s): Submit = %v, want %v", i, what, got, ev.want)
		}
		var rel, drop []string
		for _, b := range sink.released {
			rel = append(rel, nameOf(names, b))
		}
		for _, d := range sink.dropped {
			drop = append(drop, nameOf(names, d.frame)+":"+d.reason.String())
		}
		if strings.Join(rel, ",") != strings.Join(ev.released, ",") {
			t.Errorf("event %d (%s): released %v, want %v", i, what, rel, ev.released)
		}
		if strings.Join(drop, ",") != strings.Join(ev.dropped, ",") {
			t.Errorf("event %d (%s): dropped %v, want %v", i, what, drop, ev.dropped)
		}
	}
	return r
}

func nameOf(names map[string]string, b []byte) string {
	if n, ok := names[string(b)]; ok {
		return n
	}
	return fmt.Sprintf("?%x", b[:min(len(b), 16)])
}

// relaxed is the default policy with F6 off, so small crafted fragments
// reach the rules a test is about.
func relaxed() config.Policy {
	p := config.Default()
	p.MinFragmentBytesV4 = 0
	p.MinFragmentBytesV6 = 0
	return p
}
