package packet

import (
	"encoding/binary"
	"testing"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// vnetFromBytes reads a VNetHdr from 10 fuzzer bytes, big-endian (the
// order does not matter to the fuzzer; it only needs every value).
func vnetFromBytes(b []byte) VNetHdr {
	var raw [10]byte
	copy(raw[:], b)
	return VNetHdr{
		Flags: raw[0], GSOType: raw[1],
		HdrLen:     binary.BigEndian.Uint16(raw[2:]),
		GSOSize:    binary.BigEndian.Uint16(raw[4:]),
		CsumStart:  binary.BigEndian.Uint16(raw[6:]),
		CsumOffset: binary.BigEndian.Uint16(raw[8:]),
	}
}

// FuzzCheckVNetHdr pairs an arbitrary virtio_net_hdr with an arbitrary
// frame. Invariants: nothing panics; a refused header is offload_invalid
// and leaves no trace; an accepted one points inside the frame (HdrLen,
// a partial checksum at the TCP or UDP checksum field), an accepted
// aggregate is a whole TCP or UDP packet with nothing after it whose
// segments hold all its payload, and what runs after (CheckTransport,
// Rewrite, FinishPartialChecksum) stays within the frame.
func FuzzCheckVNetHdr(f *testing.F) {
	f.Fuzz(func(t *testing.T, hdr, data []byte, mode uint8) {
		p := fuzzPolicy(mode)
		var fr Frame
		if fr.Decode(data, p) != reason.None {
			return
		}
		h := vnetFromBytes(hdr)
		r := fr.CheckVNetHdr(h)
		if r != reason.None {
			if r != reason.OffloadInvalid {
				t.Fatalf("CheckVNetHdr = %v", r)
			}
			if fr.VNet != (VNetHdr{}) {
				t.Fatalf("refused header kept: %+v", fr.VNet)
			}
			return
		}
		if fr.VNet != h || int(h.HdrLen) > len(data) {
			t.Fatalf("accepted %+v for a %d-byte frame, recorded %+v", h, len(data), fr.VNet)
		}
		if h.PartialChecksum() {
			off, _ := ChecksumOffset(fr.Proto)
			if (fr.Proto != ProtoTCP && fr.Proto != ProtoUDP) || int(h.CsumStart) != fr.L4Off || int(h.CsumOffset) != off ||
				int(h.CsumStart)+int(h.CsumOffset)+2 > fr.L3End {
				t.Fatalf("partial checksum %+v accepted for proto %d at %d..%d", h, fr.Proto, fr.L4Off, fr.L3End)
			}
		}
		segs := fr.Segments()
		if h.IsGSO() {
			payload := fr.segmentPayload()
			if fr.Fragment || fr.Atomic || fr.L3End != len(data) || payload <= 0 || h.GSOSize == 0 {
				t.Fatalf("aggregate %+v accepted: fragment %v atomic %v end %d of %d payload %d",
					h, fr.Fragment, fr.Atomic, fr.L3End, len(data), payload)
			}
			if segs < 1 || segs*int(h.GSOSize) < payload || (segs-1)*int(h.GSOSize) >= payload {
				t.Fatalf("%d segments of %d for %d bytes of payload", segs, h.GSOSize, payload)
			}
		} else if segs != 1 {
			t.Fatalf("%d segments without GSO", segs)
		}
		CheckTransport(&fr, true)
		fr.Rewrite(p)
		fr.FinishPartialChecksum()
	})
}
