package packet

import (
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/dataplane/reason"
)

func TestDecodeIP(t *testing.T) {
	p := defaultPolicy()
	v4 := frameOf(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP), tcpACK(), gopacket.Payload("reassembled"))[14:]
	v6 := frameOf(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6Destination), dstOptsHdr(layers.IPProtocolUDP), udp(), gopacket.Payload("x"))[14:]
	var f Frame
	if r := f.DecodeIP(v4, p); r != reason.None {
		t.Fatalf("IPv4: %v", r)
	}
	expect(t, "L3Off", f.L3Off, 0)
	expect(t, "L4Off", f.L4Off, 20)
	expect(t, "EtherType", f.EtherType, EtherTypeIPv4)
	if r := CheckTransport(&f, true); r != reason.None {
		t.Fatalf("IPv4 CheckTransport: %v", r)
	}
	if r := f.DecodeIP(v6, p); r != reason.None {
		t.Fatalf("IPv6: %v", r)
	}
	expect(t, "L4Off", f.L4Off, 48)
	expect(t, "proto", f.Proto, ProtoUDP)
	if r := CheckTransport(&f, true); r != reason.None {
		t.Fatalf("IPv6 CheckTransport: %v", r)
	}
	for _, c := range []struct {
		name string
		pkt  []byte
		want reason.Reason
	}{
		{"empty", nil, reason.FrameTruncated},
		{"version 5", []byte{0x50, 0, 0, 0}, reason.IPHeaderInvalid},
		{"ipv4 cut", v4[:19], reason.FrameTruncated},
		{"ipv6 cut", v6[:50], reason.FrameTruncated},
	} {
		if r := f.DecodeIP(c.pkt, p); r != c.want {
			t.Errorf("%s: %v, want %v", c.name, r, c.want)
		}
	}
}

// TestEveryPrefixOfValidFrames cuts every valid test frame at every length:
// nothing may panic, offsets stay inside, and a cut frame is never
// accepted with a transport header it does not have.
func TestEveryPrefixOfValidFrames(t *testing.T) {
	p := defaultPolicy()
	var f Frame
	n := 0
	for name, b := range validFrames(t) {
		for i := 0; i <= len(b); i++ {
			cut := b[:i]
			r := f.Decode(cut, p)
			checkInvariants(t, &f, r)
			CheckTransport(&f, true)
			if r == reason.None && f.IPVersion != 0 && f.L3End > len(cut) {
				t.Fatalf("%s cut at %d: accepted with L3End %d", name, i, f.L3End)
			}
			n++
		}
	}
	t.Logf("%d prefixes decoded", n)
}

func TestSmallHelpers(t *testing.T) {
	for _, c := range []struct {
		mac  [6]byte
		want bool
	}{
		{[6]byte{0x01, 0x80, 0xc2, 0, 0, 0}, true},
		{[6]byte{0x01, 0x80, 0xc2, 0, 0, 0x0e}, true},
		{[6]byte{0x01, 0x80, 0xc2, 0, 0, 0x10}, false},
		{[6]byte{0x01, 0x80, 0xc2, 0, 1, 0}, false},
		{[6]byte{0x01, 0, 0x5e, 0, 0, 1}, false},
	} {
		expect(t, "IsLinkLocalControl", IsLinkLocalControl(c.mac), c.want)
	}
	for flags, want := range map[uint8]bool{
		0: false, TCPFlagSYN: true, TCPFlagSYN | TCPFlagACK: true, TCPFlagSYN | TCPFlagFIN: false,
		TCPFlagSYN | TCPFlagRST: false, TCPFlagFIN: false, TCPFlagFIN | TCPFlagACK: true, TCPFlagRST: true,
		TCPFlagRST | TCPFlagACK: true, TCPFlagACK: true, TCPFlagFIN | TCPFlagPSH | TCPFlagURG: false, TCPFlagECE: true,
	} {
		expect(t, "TCPFlagsValid", TCPFlagsValid(flags), want)
	}
	for _, c := range []struct {
		proto uint8
		l4    []byte
		n     int
		known bool
	}{
		{ProtoTCP, nil, 20, true},
		{ProtoTCP, make([]byte, 12), 20, true},
		{ProtoTCP, []byte(tcpRaw(15, 0)), 60, true},
		{ProtoTCP, []byte(tcpRaw(2, 0)), 20, true},
		{ProtoUDP, nil, 8, true},
		{ProtoICMP, nil, 8, true},
		{ProtoICMPv6, nil, 8, true},
		{ProtoSCTP, nil, 12, true},
		{47, nil, 0, false},
	} {
		n, known := TransportHeaderLen(c.proto, c.l4)
		if n != c.n || known != c.known {
			t.Errorf("TransportHeaderLen(%d, %d bytes) = %d, %v; want %d, %v", c.proto, len(c.l4), n, known, c.n, c.known)
		}
	}
}
