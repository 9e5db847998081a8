package filter

import (
	"encoding/binary"
	"net/netip"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// ICMP message types the filter treats specially.
const (
	icmp4EchoReply   = 0
	icmp4Unreach     = 3
	icmp4EchoRequest = 8
	icmp4TimeExc     = 11
	icmp4ParamProb   = 12

	icmp6Unreach     = 1
	icmp6TooBig      = 2
	icmp6TimeExc     = 3
	icmp6ParamProb   = 4
	icmp6EchoRequest = 128
	icmp6EchoReply   = 129
)

func isICMPError(v6 bool, typ uint8) bool {
	if v6 {
		return typ == icmp6Unreach || typ == icmp6TooBig || typ == icmp6TimeExc || typ == icmp6ParamProb
	}
	return typ == icmp4Unreach || typ == icmp4TimeExc || typ == icmp4ParamProb
}

func echoTypes(v6 bool) (request, reply uint8) {
	if v6 {
		return icmp6EchoRequest, icmp6EchoReply
	}
	return icmp4EchoRequest, icmp4EchoReply
}

// quoted is the packet an ICMP error quotes: the start of a packet the
// error's receiver sent earlier.
type quoted struct {
	src, dst netip.Addr
	proto    uint8
	sp, dp   uint16 // ports, or the echo identifier in both for echo
	seq      uint32 // TCP sequence number
	icmpType uint8
}

// parseQuoted reads the IP header and first transport bytes quoted by an
// ICMP or ICMPv6 error in fr. The quote must be of the same family, not a
// later fragment, and hold at least the 8 transport bytes RFC 792 promises.
func parseQuoted(fr *packet.Frame) (q quoted, ok bool) {
	end := fr.L3End
	if end <= 0 || end > len(fr.Data) {
		end = len(fr.Data)
	}
	off := fr.L4Off + 8
	if fr.L4Off <= 0 || off >= end {
		return q, false
	}
	b := fr.Data[off:end]
	var l4 []byte
	if fr.IPVersion == 4 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return q, false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl+8 || binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return q, false
		}
		q.proto = b[9]
		q.src = netip.AddrFrom4([4]byte(b[12:16]))
		q.dst = netip.AddrFrom4([4]byte(b[16:20]))
		l4 = b[ihl:]
	} else {
		if len(b) < 40 || b[0]>>4 != 6 {
			return q, false
		}
		q.src = netip.AddrFrom16([16]byte(b[8:24]))
		q.dst = netip.AddrFrom16([16]byte(b[24:40]))
		next, pos := b[6], 40
		for hops := 0; ; hops++ {
			if hops > 8 || pos+8 > len(b) {
				return q, false
			}
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				next, pos = b[pos], pos+(int(b[pos+1])+1)*8
				continue
			case 44: // fragment: only the first fragment quotes ports
				if binary.BigEndian.Uint16(b[pos+2:pos+4])&0xfff8 != 0 {
					return q, false
				}
				next, pos = b[pos], pos+8
				continue
			case 51: // authentication header
				next, pos = b[pos], pos+(int(b[pos+1])+2)*4
				continue
			}
			break
		}
		q.proto = next
		l4 = b[pos:]
	}
	switch q.proto {
	case rules.ProtoTCP, rules.ProtoUDP:
		q.sp = binary.BigEndian.Uint16(l4[0:2])
		q.dp = binary.BigEndian.Uint16(l4[2:4])
		q.seq = binary.BigEndian.Uint32(l4[4:8])
	case rules.ProtoICMP, rules.ProtoICMPv6:
		q.icmpType = l4[0]
		q.sp = binary.BigEndian.Uint16(l4[4:6])
		q.dp = q.sp
	}
	return q, true
}
