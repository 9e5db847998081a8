package frag

import (
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// maxDatagram is the F3 limit: IPv4 total length, or the IPv6 payload after
// the fragment header.
const maxDatagram = 65535

// checkF2 is F2: a non-final fragment carries a non-zero multiple of 8 bytes,
// no fragment is empty, and no IPv4 fragment has DF set.
func checkF2(f *packet.Frame) reason.Reason {
	if f.IPVersion == 4 && f.DontFrag {
		return reason.FragDontFragment
	}
	if f.FragDataLen <= 0 {
		return reason.FragBadLength
	}
	if f.MoreFrags && f.FragDataLen%8 != 0 {
		return reason.FragBadLength
	}
	return reason.None
}

// checkF3 is F3 with the arithmetic POLICY.md fixes: IPv4 counts the header
// of the fragment, IPv6 only the fragmentable part after the fragment header.
func checkF3(f *packet.Frame) reason.Reason {
	end := f.FragOffset + f.FragDataLen
	if f.IPVersion == 4 {
		end += f.IPHdrLen
	}
	if end > maxDatagram {
		return reason.FragTooLarge
	}
	return reason.None
}

// checkF6 is F6: a non-final fragment whose IP packet is smaller than
// min_fragment_bytes kills the datagram. min 0 turns the rule off.
func checkF6(f *packet.Frame, min int) reason.Reason {
	if !f.MoreFrags || min <= 0 {
		return reason.None
	}
	if f.L3End-f.L3Off < min {
		return reason.FragTooSmall
	}
	return reason.None
}

// IPv6 extension header numbers that may appear in the fragmentable part of
// a first fragment, before the upper-layer header.
const (
	ipv6HopByHop    = 0
	ipv6Routing     = 43
	ipv6Fragment    = 44
	ipv6AH          = 51
	ipv6DestOptions = 60
	ipv6Mobility    = 135
	ipv6HIP         = 139
	ipv6Shim6       = 140
	ipv6Exp1        = 253
	ipv6Exp2        = 254
)

// Upper-layer protocols whose header F5 requires in the first fragment.
const (
	protoICMP   = 1
	protoTCP    = 6
	protoUDP    = 17
	protoICMPv6 = 58
	protoSCTP   = 132
)

// firstFragmentComplete is F5 for an offset-0 fragment: its fragmentable part
// holds, for IPv6, every extension header up to and including the upper-layer
// header (RFC 7112), and the complete transport header (TCP 20 bytes and its
// full data offset, UDP 8, ICMP/ICMPv6 8, SCTP 12).
//
// It reads the bytes itself rather than trusting how far the decoder got, so
// the rule does not depend on which fields a decoder fills for a fragment.
func firstFragmentComplete(f *packet.Frame) bool {
	start, end := f.FragDataOff, f.FragDataOff+f.FragDataLen
	if start < 0 || end > len(f.Data) || start > end {
		return false
	}
	b := f.Data[start:end]
	var next uint8
	if f.IPVersion == 4 {
		next = f.Proto
	} else {
		if f.FragHdrOff < 0 || f.FragHdrOff >= len(f.Data) {
			return false
		}
		next = f.Data[f.FragHdrOff]
		for {
			var hdrLen int
			switch next {
			case ipv6HopByHop, ipv6Routing, ipv6DestOptions, ipv6Mobility, ipv6HIP, ipv6Shim6, ipv6Exp1, ipv6Exp2:
				if len(b) < 2 {
					return false
				}
				hdrLen = (int(b[1]) + 1) * 8
			case ipv6AH:
				if len(b) < 2 {
					return false
				}
				hdrLen = (int(b[1]) + 2) * 4
			case ipv6Fragment:
				hdrLen = 8
			default:
				hdrLen = -1
			}
			if hdrLen < 0 {
				break
			}
			if len(b) < hdrLen {
				return false
			}
			next = b[0]
			b = b[hdrLen:]
		}
	}
	return len(b) >= transportHeaderLen(next, b, f.IPVersion == 6)
}

// transportHeaderLen is how many bytes of the upper-layer header F5 requires.
// Protocols the policy names no header for need none.
func transportHeaderLen(proto uint8, b []byte, v6 bool) int {
	switch proto {
	case protoTCP:
		if len(b) < 20 {
			return 20
		}
		if doff := int(b[12]>>4) * 4; doff > 20 {
			return doff
		}
		return 20
	case protoUDP:
		return 8
	case protoICMP:
		if !v6 {
			return 8
		}
	case protoICMPv6:
		if v6 {
			return 8
		}
	case protoSCTP:
		return 12
	}
	return 0
}
