package packet

import (
	"net/netip"

	"github.com/rackwall/rackwall/dataplane/reason"
)

const (
	ipv6HeaderLen     = 40
	ipv6FragHeaderLen = 8
	ahMinLen          = 12 // next header, length, reserved, SPI, sequence number
)

// decodeIPv6 checks H1, H2 and H4 on the IPv6 packet at off and decodes its
// header chain.
//
// The chain is walked to the upper-layer header in whole packets, atomic
// fragments and first fragments (where RFC 7112 requires it to be
// complete), and up to the fragment header in later fragments, whose
// payload is not headers. A type 0 routing header is remembered (H4) and the
// walk goes on, so a malformed header behind it is still H1; a second
// fragment header (H4) ends the walk, since what follows it may be payload.
// H4 is reported after H2 when the source is also a martian.
func (f *Frame) decodeIPv6(off int) reason.Reason {
	d := f.Data
	if len(d)-off < ipv6HeaderLen {
		return reason.FrameTruncated
	}
	h := d[off:]
	if h[0]>>4 != 6 {
		return reason.IPHeaderInvalid
	}
	f.IPVersion = 6
	f.Src = netip.AddrFrom16([16]byte(h[8:24]))
	f.Dst = netip.AddrFrom16([16]byte(h[24:40]))
	f.TTL = h[7]
	payload := int(be16(h, 4))
	if ipv6HeaderLen+payload > len(h) {
		return reason.FrameTruncated
	}
	f.L3End = off + ipv6HeaderLen + payload

	h4, r := f.walkIPv6Chain(off)
	if r != reason.None {
		return r
	}
	if IsMartianSourceV6(f.Src) && !isUnspecifiedSourceAllowed(f) {
		return reason.MartianSource
	}
	return h4
}

// walkIPv6Chain follows the next-header chain from the fixed header at off.
// It returns an H1 reason as r, and the first H4 reason as h4 for the
// caller to report after H2.
func (f *Frame) walkIPv6Chain(off int) (h4, r reason.Reason) {
	d := f.Data
	end := f.L3End
	nhOff := off + 6 // where the current next-header value lives
	nh := d[nhOff]
	pos := off + ipv6HeaderLen
	sawFrag := false
	for {
		switch nh {
		case ProtoHopByHop, ProtoDstOpts, ProtoRouting, ProtoMobility, ProtoHIP, ProtoShim6, ProtoExp253, ProtoExp254:
			if nh == ProtoHopByHop && pos != off+ipv6HeaderLen {
				// RFC 8200 4.1: hop-by-hop options only right after the IPv6 header.
				return reason.None, reason.IPv6ExtChainInvalid
			}
			if end-pos < 2 {
				return reason.None, reason.IPv6ExtChainInvalid
			}
			n := (int(d[pos+1]) + 1) * 8
			if end-pos < n {
				return reason.None, reason.IPv6ExtChainInvalid
			}
			if nh == ProtoHopByHop || nh == ProtoDstOpts {
				if !ipv6OptionsWellFormed(d[pos+2 : pos+n]) {
					return reason.None, reason.IPv6ExtChainInvalid
				}
			}
			if nh == ProtoRouting && d[pos+2] == 0 && h4 == reason.None {
				// Dropped whatever its segments-left value (POLICY H4).
				h4 = reason.IPv6RoutingType0
			}
			nhOff, nh, pos = pos, d[pos], pos+n

		case ProtoAH:
			if end-pos < 2 {
				return reason.None, reason.IPv6ExtChainInvalid
			}
			n := (int(d[pos+1]) + 2) * 4
			if n < ahMinLen || n%8 != 0 || end-pos < n {
				return reason.None, reason.IPv6ExtChainInvalid
			}
			nhOff, nh, pos = pos, d[pos], pos+n

		case ProtoFragment:
			if sawFrag {
				if h4 == reason.None {
					h4 = reason.IPv6FragHeaderRepeated
				}
				return h4, reason.None
			}
			sawFrag = true
			if end-pos < ipv6FragHeaderLen {
				return reason.None, reason.IPv6ExtChainInvalid
			}
			fo := be16(d, pos+2)
			f.FragHdrOff = pos
			f.FragNHOff = nhOff
			f.FragNextHeader = d[pos]
			f.IPID = be32(d, pos+4)
			f.FragOffset = int(fo &^ 7)
			f.MoreFrags = fo&1 != 0
			f.FragDataOff = pos + ipv6FragHeaderLen
			f.FragDataLen = end - f.FragDataOff
			f.IPHdrLen = pos - off
			if f.FragOffset == 0 && !f.MoreFrags {
				// RFC 6946: an atomic fragment is a whole packet.
				f.Atomic = true
			} else {
				f.Fragment = true
			}
			if f.FragOffset != 0 {
				// The payload continues a datagram: nothing more to walk.
				f.Proto = f.FragNextHeader
				return h4, reason.None
			}
			nhOff, nh, pos = pos, d[pos], pos+ipv6FragHeaderLen

		case ProtoESP, ProtoNoNext:
			// Nothing after these can be read as headers.
			f.Proto = nh
			f.ChainComplete = true
			if !sawFrag {
				f.IPHdrLen = pos - off
			}
			return h4, reason.None

		default:
			f.Proto = nh
			if !sawFrag {
				f.IPHdrLen = pos - off
			}
			f.decodeTransport(pos, f.Fragment)
			return h4, reason.None
		}
	}
}

// ipv6OptionsWellFormed checks the TLV options of a hop-by-hop or
// destination options header: every option must end inside the header.
func ipv6OptionsWellFormed(opts []byte) bool {
	i := 0
	for i < len(opts) {
		if opts[i] == 0 { // Pad1
			i++
			continue
		}
		if i+2 > len(opts) {
			return false
		}
		i += 2 + int(opts[i+1])
	}
	// An option whose length runs past the header leaves i beyond the end.
	return i == len(opts)
}
