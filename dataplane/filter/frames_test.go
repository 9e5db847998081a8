package filter

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// Test frames are built as real bytes (Ethernet, IP, transport) with the
// decoded fields set to match, the way packet decoding leaves them.

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type pkt struct {
	src, dst string
	sp, dp   uint16
	proto    uint8
	flags    uint8
	seq, ack uint32
	win      uint16
	payload  int
	wscale   int // -1: no option
	icmpType uint8
	icmpCode uint8
	icmpID   uint16
	quote    []byte // ICMP error body: the quoted IP packet
	vlan     uint16
	srcMAC   [6]byte
}

func ipHeader(src, dst netip.Addr, proto uint8, l4len int) []byte {
	if src.Is4() {
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+l4len))
		h[8], h[9] = 64, proto
		s, d := src.As4(), dst.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		return h
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(l4len))
	h[6], h[7] = proto, 64
	s, d := src.As16(), dst.As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	return h
}

func (p pkt) frame() *packet.Frame {
	src, dst := netip.MustParseAddr(p.src), netip.MustParseAddr(p.dst)
	var l4 []byte
	switch p.proto {
	case rules.ProtoTCP:
		hdr := 20
		if p.wscale >= 0 && p.flags&tcpSYN != 0 {
			hdr = 24
		}
		l4 = make([]byte, hdr+p.payload)
		binary.BigEndian.PutUint16(l4[0:], p.sp)
		binary.BigEndian.PutUint16(l4[2:], p.dp)
		binary.BigEndian.PutUint32(l4[4:], p.seq)
		binary.BigEndian.PutUint32(l4[8:], p.ack)
		l4[12] = byte(hdr/4) << 4
		l4[13] = p.flags
		binary.BigEndian.PutUint16(l4[14:], p.win)
		if hdr == 24 {
			copy(l4[20:], []byte{1, 3, 3, byte(p.wscale)})
		}
	case rules.ProtoUDP:
		l4 = make([]byte, 8+p.payload)
		binary.BigEndian.PutUint16(l4[0:], p.sp)
		binary.BigEndian.PutUint16(l4[2:], p.dp)
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	case rules.ProtoICMP, rules.ProtoICMPv6:
		l4 = make([]byte, 8, 8+len(p.quote))
		l4[0], l4[1] = p.icmpType, p.icmpCode
		binary.BigEndian.PutUint16(l4[4:], p.icmpID)
		l4 = append(l4, p.quote...)
	default:
		l4 = make([]byte, 8+p.payload)
	}
	ip := ipHeader(src, dst, p.proto, len(l4))
	eth := make([]byte, 14)
	copy(eth[6:], p.srcMAC[:])
	fr := &packet.Frame{SrcMAC: p.srcMAC, Src: src, Dst: dst, Proto: p.proto, TTL: 64}
	if p.vlan != 0 {
		eth = append(eth[:12], 0x81, 0, byte(p.vlan>>8), byte(p.vlan), 0, 0)
		fr.NumVLAN, fr.VLANTPID[0], fr.VLANTCI[0] = 1, 0x8100, p.vlan
	}
	if src.Is4() {
		fr.IPVersion, fr.EtherType = 4, 0x0800
	} else {
		fr.IPVersion, fr.EtherType = 6, 0x86dd
	}
	binary.BigEndian.PutUint16(eth[len(eth)-2:], fr.EtherType)
	fr.L3Off = len(eth)
	fr.IPHdrLen = len(ip)
	fr.L4Off = len(eth) + len(ip)
	fr.Data = append(append(eth, ip...), l4...)
	fr.L3End = len(fr.Data)
	fr.L4Len = len(l4)
	fr.SrcPort, fr.DstPort = p.sp, p.dp
	fr.TCPFlags, fr.TCPSeq, fr.TCPAck, fr.TCPWin = p.flags, p.seq, p.ack, p.win
	fr.ICMPType, fr.ICMPCode, fr.ICMPID = p.icmpType, p.icmpCode, p.icmpID
	return fr
}

// quoteOf returns the first bytes of a packet as an ICMP error quotes them:
// its IP header and 8 transport bytes.
func quoteOf(p pkt) []byte {
	fr := p.frame()
	return fr.Data[fr.L3Off : fr.L4Off+8]
}

func tcp(src, dst string, sp, dp uint16, flags uint8, seq, ack uint32) pkt {
	return pkt{src: src, dst: dst, sp: sp, dp: dp, proto: rules.ProtoTCP, flags: flags, seq: seq, ack: ack, win: 65535, wscale: -1}
}

func udp(src, dst string, sp, dp uint16) pkt {
	return pkt{src: src, dst: dst, sp: sp, dp: dp, proto: rules.ProtoUDP, wscale: -1}
}

func testPolicy() *config.Policy {
	p := config.Default()
	p.MaxConnections = 1024
	p.MaxSources = 1024
	return &p
}

func newFilter(t testing.TB, src string) *Filter {
	t.Helper()
	f := New(testPolicy())
	rs, err := rules.Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	f.Load(rs)
	return f
}

// expect judges a packet and checks the reason.
func expect(t *testing.T, f *Filter, p pkt, dir packet.Direction, now time.Time, want reason.Reason) {
	t.Helper()
	if got := f.Decide(p.frame(), dir, now); got != want {
		t.Fatalf("%s %s:%d → %s:%d proto %d flags %#x: got %v, want %v", dir, p.src, p.sp, p.dst, p.dp, p.proto, p.flags, got, want)
	}
}

// handshake opens a TCP connection from client (on side dir) to server and
// returns the next sequence numbers of each side.
func handshake(t *testing.T, f *Filter, client, server string, cp, sp uint16, dir packet.Direction, now time.Time) (cseq, sseq uint32) {
	t.Helper()
	back := packet.In
	if dir == packet.In {
		back = packet.Out
	}
	expect(t, f, tcp(client, server, cp, sp, tcpSYN, 1000, 0), dir, now, reason.None)
	expect(t, f, tcp(server, client, sp, cp, tcpSYN|tcpACK, 5000, 1001), back, now, reason.None)
	expect(t, f, tcp(client, server, cp, sp, tcpACK, 1001, 5001), dir, now, reason.None)
	return 1001, 5001
}
