package packet

import (
	"testing"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// fuzzPolicy turns the mode byte into a policy, so the fuzzer explores
// every H3 mode, link-local passing and the rewrites.
func fuzzPolicy(mode uint8) *config.Policy {
	p := config.Default()
	p.IPOptions = config.IPOptions(mode % 3)
	p.PassLinkLocal = mode&0x04 == 0
	if mode&0x08 != 0 {
		p.ExtraEthertypes = []uint16{0x88cc, 0x8863, 0x8864}
	}
	if mode&0x10 != 0 {
		p.MinTTL, p.MaxMSS, p.ClearDF, p.RandomIPID = 64, 1200, true, true
	}
	return &p
}

// FuzzDecode feeds arbitrary frames to Decode and the functions that run on
// its result. Invariants: nothing panics, every offset stays inside the
// frame, accepted IP frames have addresses, decoding is deterministic, and
// rewrites and checksum fixes keep an accepted frame accepted.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		p := fuzzPolicy(mode)
		var fr, again Frame
		r := fr.Decode(data, p)
		checkInvariants(t, &fr, r)
		if r2 := again.Decode(data, p); r2 != r || again.L4Off != fr.L4Off || again.ChainComplete != fr.ChainComplete {
			t.Fatalf("second decode differs: %v vs %v", r2, r)
		}
		tr := CheckTransport(&fr, true)
		trNoVerify := CheckTransport(&fr, false)
		if tr != trNoVerify && tr != reason.ChecksumInvalid {
			t.Fatalf("CheckTransport with verification %v, without %v", tr, trNoVerify)
		}
		// The functions below write into the frame; the fuzzer's input
		// must stay as it was.
		buf := append([]byte(nil), data...)
		if r != reason.None || fr.IPVersion == 0 || fr.Fragment {
			FinishOffloadChecksum(buf, int(mode)%64, int(mode)%20)
			return
		}
		var w Frame
		w.Decode(buf, p)
		w.Rewrite(p)
		if r := again.Decode(buf, p); r != reason.None {
			t.Fatalf("rewrite turned an accepted frame into %v", r)
		}
		if got := CheckTransport(&again, true); got != tr {
			t.Fatalf("rewrite changed CheckTransport from %v to %v", tr, got)
		}
		FixTransportChecksum(&again)
		if got := CheckTransport(&again, true); got == reason.ChecksumInvalid {
			t.Fatalf("checksum still wrong after FixTransportChecksum")
		}
	})
}

// FuzzCheckTransport wraps an arbitrary transport segment in a valid IPv4
// or IPv6 packet so every input reaches the T rules. Invariants: no panic,
// only the reasons of that protocol come back, verification only ever
// adds ChecksumInvalid, and a recomputed checksum always verifies.
func FuzzCheckTransport(f *testing.F) {
	f.Fuzz(func(t *testing.T, seg []byte, proto uint8, v6 bool) {
		if len(seg) > 9000 {
			return
		}
		frame := wrapSegment(seg, proto, v6)
		var fr Frame
		if r := fr.Decode(frame, fuzzPolicy(0)); r != reason.None {
			if isExtensionHeader(proto) {
				return // the segment was read as a broken extension header
			}
			t.Fatalf("Decode of a wrapped segment: %v", r)
		}
		checkInvariants(t, &fr, reason.None)
		plain := CheckTransport(&fr, false)
		verified := CheckTransport(&fr, true)
		if verified != plain && !(plain == reason.None && verified == reason.ChecksumInvalid) {
			t.Fatalf("verification turned %v into %v", plain, verified)
		}
		allowed := map[uint8][]reason.Reason{
			ProtoTCP:    {reason.TCPHeaderInvalid, reason.TCPFlagsInvalid},
			ProtoUDP:    {reason.UDPLengthInvalid},
			ProtoICMP:   {reason.ICMPTooShort},
			ProtoICMPv6: {reason.ICMPTooShort},
		}[fr.Proto]
		ok := plain == reason.None
		for _, a := range allowed {
			ok = ok || plain == a
		}
		if !ok {
			t.Fatalf("proto %d: unexpected %v", fr.Proto, plain)
		}
		if plain == reason.None {
			FixTransportChecksum(&fr)
			if r := CheckTransport(&fr, true); r != reason.None {
				t.Fatalf("after FixTransportChecksum: %v", r)
			}
		}
	})
}

func isExtensionHeader(p uint8) bool {
	switch p {
	case ProtoHopByHop, ProtoRouting, ProtoFragment, ProtoAH, ProtoDstOpts, ProtoMobility, ProtoHIP, ProtoShim6, ProtoExp253, ProtoExp254:
		return true
	}
	return false
}

// wrapSegment builds an untagged Ethernet frame carrying seg as the payload
// of an IPv4 (valid header checksum) or IPv6 packet with protocol proto.
func wrapSegment(seg []byte, proto uint8, v6 bool) []byte {
	b := make([]byte, 14, 14+40+len(seg))
	copy(b, []byte{0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1})
	if v6 {
		put16(b, 12, EtherTypeIPv6)
		h := make([]byte, 40)
		h[0] = 0x60
		put16(h, 4, uint16(len(seg)))
		h[6], h[7] = proto, 64
		copy(h[8:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2})
		copy(h[24:], []byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
		b = append(b, h...)
	} else {
		put16(b, 12, EtherTypeIPv4)
		h := make([]byte, 20)
		h[0] = 0x45
		put16(h, 2, uint16(20+len(seg)))
		h[8], h[9] = 64, proto
		copy(h[12:], []byte{192, 0, 2, 1, 198, 51, 100, 7})
		SetIPv4HeaderChecksum(h)
		b = append(b, h...)
	}
	return append(b, seg...)
}
