package packet

import "github.com/rackwall/rackwall/dataplane/reason"

// Minimum transport header lengths (F5 and T rules).
const (
	tcpMinHeaderLen  = 20
	udpHeaderLen     = 8
	icmpMinLen       = 8
	sctpCommonHdrLen = 12
)

// TCP flag bits (byte 13 of the header).
const (
	TCPFlagFIN uint8 = 0x01
	TCPFlagSYN uint8 = 0x02
	TCPFlagRST uint8 = 0x04
	TCPFlagPSH uint8 = 0x08
	TCPFlagACK uint8 = 0x10
	TCPFlagURG uint8 = 0x20
	TCPFlagECE uint8 = 0x40
	TCPFlagCWR uint8 = 0x80
)

// TCP option kinds with a fixed, checked length.
const (
	tcpOptEOL       = 0
	tcpOptNOP       = 1
	tcpOptMSS       = 2
	tcpOptWScale    = 3
	tcpOptSACKOK    = 4
	tcpOptSACK      = 5
	tcpOptTimestamp = 8
)

// TransportHeaderLen is how many bytes of the upper-layer header at the
// start of l4 rackwall needs to see for proto: 20 and the full data offset
// for TCP, 8 for UDP, ICMP and ICMPv6, 12 for SCTP. known is false for
// protocols whose header length rackwall does not know. When the TCP data
// offset itself is not in l4 it answers 20.
func TransportHeaderLen(proto uint8, l4 []byte) (n int, known bool) {
	switch proto {
	case ProtoTCP:
		n = tcpMinHeaderLen
		if len(l4) > 12 {
			n = max(n, int(l4[12]>>4)*4)
		}
		return n, true
	case ProtoUDP:
		return udpHeaderLen, true
	case ProtoICMP, ProtoICMPv6:
		return icmpMinLen, true
	case ProtoSCTP:
		return sctpCommonHdrLen, true
	}
	return 0, false
}

// decodeTransport reads the upper-layer header at l4. In a first fragment
// nothing is set unless the header is complete (F5 reads L4Off == 0 as
// "incomplete"); in a whole packet L4Off is set even for a truncated header
// so that CheckTransport can judge it.
func (f *Frame) decodeTransport(l4 int, fragment bool) {
	seg := f.Data[l4:f.L3End]
	need, known := TransportHeaderLen(f.Proto, seg)
	if !known {
		f.ChainComplete = true
		return
	}
	complete := len(seg) >= need
	if fragment && !complete {
		return
	}
	f.L4Off = l4
	f.L4Len = len(seg)
	f.ChainComplete = complete

	switch f.Proto {
	case ProtoTCP:
		if len(seg) >= tcpMinHeaderLen {
			f.SrcPort = be16(seg, 0)
			f.DstPort = be16(seg, 2)
			f.TCPSeq = be32(seg, 4)
			f.TCPAck = be32(seg, 8)
			f.TCPFlags = seg[13]
			f.TCPWin = be16(seg, 14)
		}
	case ProtoUDP:
		if len(seg) >= udpHeaderLen {
			f.SrcPort = be16(seg, 0)
			f.DstPort = be16(seg, 2)
		}
	case ProtoSCTP:
		if len(seg) >= sctpCommonHdrLen {
			f.SrcPort = be16(seg, 0)
			f.DstPort = be16(seg, 2)
		}
	case ProtoICMP, ProtoICMPv6:
		if len(seg) >= icmpMinLen {
			f.ICMPType = seg[0]
			f.ICMPCode = seg[1]
			if isICMPEcho(f.Proto, seg[0]) {
				f.ICMPID = be16(seg, 4)
			}
		}
	}
}

// isICMPEcho reports whether an ICMP type is an echo request or reply,
// whose identifier ties request and reply together.
func isICMPEcho(proto, typ uint8) bool {
	if proto == ProtoICMP {
		return typ == 8 || typ == 0
	}
	return typ == 128 || typ == 129
}

// CheckTransport applies T1 and T2 to a decoded whole packet (not a
// fragment; an IPv6 atomic fragment or a reassembled datagram is whole) and,
// when verifyChecksum is set, its transport checksum: TCP, UDP and ICMPv6
// with the pseudo header, ICMP without; UDP over IPv4 with checksum 0 carries
// none. A wrong checksum is reason.ChecksumInvalid; callers judging a
// reassembled datagram report it as reason.FragChecksum. A frame whose
// offload state (f.VNet) leaves the checksum partial or makes it an
// aggregate has no complete checksum, and none is verified. Fragments, non-IP
// frames and protocols without T rules return reason.None. It never
// allocates.
func CheckTransport(f *Frame, verifyChecksum bool) reason.Reason {
	if f.IPVersion == 0 || f.Fragment || f.L4Off <= 0 || f.L4Off > f.L3End || f.L3End > len(f.Data) {
		return reason.None
	}
	seg := f.Data[f.L4Off:f.L3End]
	switch f.Proto {
	case ProtoTCP:
		if r := checkTCP(seg); r != reason.None {
			return r
		}
	case ProtoUDP:
		if len(seg) < udpHeaderLen {
			return reason.UDPLengthInvalid
		}
		if n := int(be16(seg, 4)); n < udpHeaderLen || n != len(seg) {
			return reason.UDPLengthInvalid
		}
		if f.IPVersion == 4 && be16(seg, 6) == 0 {
			return reason.None // the sender computed no checksum
		}
	case ProtoICMP, ProtoICMPv6:
		if len(seg) < icmpMinLen {
			return reason.ICMPTooShort
		}
	default:
		return reason.None
	}
	// A partial checksum, or an aggregate's, is not one to verify (see
	// ChecksumComplete).
	if verifyChecksum && f.ChecksumComplete() && !VerifyTransportChecksum(f.Src, f.Dst, f.Proto, seg) {
		return reason.ChecksumInvalid
	}
	return reason.None
}

// checkTCP is T1: header length, options and flags of a TCP segment.
func checkTCP(seg []byte) reason.Reason {
	if len(seg) < tcpMinHeaderLen {
		return reason.TCPHeaderInvalid
	}
	hl := int(seg[12]>>4) * 4
	if hl < tcpMinHeaderLen || hl > len(seg) {
		return reason.TCPHeaderInvalid
	}
	if !tcpOptionsWellFormed(seg[tcpMinHeaderLen:hl]) {
		return reason.TCPHeaderInvalid
	}
	if !TCPFlagsValid(seg[13]) {
		return reason.TCPFlagsInvalid
	}
	return reason.None
}

// TCPFlagsValid is the flag part of T1: no flags at all, SYN+FIN, SYN+RST
// and FIN without ACK are never sent by a real stack (they are scans and
// evasion attempts).
func TCPFlagsValid(flags uint8) bool {
	switch {
	case flags == 0:
		return false
	case flags&(TCPFlagSYN|TCPFlagFIN) == TCPFlagSYN|TCPFlagFIN:
		return false
	case flags&(TCPFlagSYN|TCPFlagRST) == TCPFlagSYN|TCPFlagRST:
		return false
	case flags&(TCPFlagFIN|TCPFlagACK) == TCPFlagFIN:
		return false
	}
	return true
}

// tcpOptionsWellFormed walks the TCP options: each option must end inside
// the header, and the options whose size the RFCs fix must have it.
func tcpOptionsWellFormed(opts []byte) bool {
	for i := 0; i < len(opts); {
		kind := opts[i]
		switch kind {
		case tcpOptEOL:
			return true // the rest is padding
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return false
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return false
		}
		switch kind {
		case tcpOptMSS:
			if n != 4 {
				return false
			}
		case tcpOptWScale:
			if n != 3 {
				return false
			}
		case tcpOptSACKOK:
			if n != 2 {
				return false
			}
		case tcpOptTimestamp:
			if n != 10 {
				return false
			}
		case tcpOptSACK:
			if n < 10 || (n-2)%8 != 0 {
				return false
			}
		}
		i += n
	}
	return true
}
