package packet

import (
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// Ethertypes the decoder knows by name.
const (
	EtherTypeIPv4  uint16 = 0x0800
	EtherTypeARP   uint16 = 0x0806
	EtherTypeIPv6  uint16 = 0x86dd
	EtherTypeVLAN  uint16 = 0x8100 // 802.1Q customer tag
	EtherTypeQinQ  uint16 = 0x88a8 // 802.1ad service tag
	EtherTypeQinQ1 uint16 = 0x9100 // pre-standard service tag still seen on older switches

	// Link-control protocols L1 passes to a reserved link-local address.
	EtherTypeSlow  uint16 = 0x8809 // slow protocols: LACP, marker, OAM
	EtherTypeEAPOL uint16 = 0x888e // 802.1X port authentication
	EtherTypeLLDP  uint16 = 0x88cc // link layer discovery
)

// IP protocol numbers the decoder knows by name.
const (
	ProtoHopByHop uint8 = 0
	ProtoICMP     uint8 = 1
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoESP      uint8 = 50
	ProtoAH       uint8 = 51
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDstOpts  uint8 = 60
	ProtoMobility uint8 = 135
	ProtoHIP      uint8 = 139
	ProtoShim6    uint8 = 140
	ProtoSCTP     uint8 = 132
	ProtoExp253   uint8 = 253 // experimentation (RFC 3692), an extension header per RFC 7045
	ProtoExp254   uint8 = 254
)

const ethHeaderLen = 14

// Decode parses an Ethernet frame into f and checks the rules a single frame
// can break on its own before any state is consulted: L1–L3 and H1–H4 of
// POLICY.md. It returns reason.None or the first rule broken, in the order
// L, H1, H2, H3, H4. Every field of f is reset first, so a Frame can be
// reused; on a drop the fields decoded up to the broken rule stay set (Src
// is set as soon as the IP header is readable, so the drop can be charged
// to its source).
//
// Decode keeps a reference to data (f.Data) and never allocates or panics.
// A nil policy means config.Default().
//
// Fragments: Fragment, FragOffset, MoreFrags, DontFrag, FragDataOff,
// FragDataLen and IPID are set (FragHdrOff, FragNextHeader and FragNHOff for
// IPv6). The transport fields of a first fragment (offset 0) are set, and
// L4Off > 0, only when it holds the complete transport header; ChainComplete
// says the same for the whole IPv6 header chain (RFC 7112). Decode judges
// no F rule. An IPv6 atomic fragment (offset 0, M = 0) has Fragment false and
// Atomic true and is decoded as a whole packet.
//
// Transport headers of whole packets are located (L4Off, L4Len) and their
// fields read when present, but their T rules are left to CheckTransport, so
// a reassembler can apply them to the reassembled datagram instead.
func (f *Frame) Decode(data []byte, p *config.Policy) reason.Reason {
	*f = Frame{Data: data}
	if p == nil {
		p = &shippedPolicy
	}
	return f.decodeEthernet(p)
}

// shippedPolicy stands in when a caller passes no policy.
var shippedPolicy = config.Default()

// DecodeIP parses a bare IPv4 or IPv6 packet (no Ethernet header, L3Off 0)
// under the same IP rules as Decode; the version nibble picks the protocol.
// Reassemblers use it to judge a reassembled datagram.
func (f *Frame) DecodeIP(pkt []byte, p *config.Policy) reason.Reason {
	*f = Frame{Data: pkt}
	if p == nil {
		p = &shippedPolicy
	}
	if len(pkt) == 0 {
		return reason.FrameTruncated
	}
	switch pkt[0] >> 4 {
	case 4:
		f.EtherType = EtherTypeIPv4
		return f.decodeIPv4(0, p)
	case 6:
		f.EtherType = EtherTypeIPv6
		return f.decodeIPv6(0)
	}
	return reason.IPHeaderInvalid
}

// be16 and be32 read big-endian values; callers have checked the bounds.
func be16(b []byte, off int) uint16 {
	return uint16(b[off])<<8 | uint16(b[off+1])
}

func be32(b []byte, off int) uint32 {
	return uint32(b[off])<<24 | uint32(b[off+1])<<16 | uint32(b[off+2])<<8 | uint32(b[off+3])
}

func put16(b []byte, off int, v uint16) {
	b[off] = byte(v >> 8)
	b[off+1] = byte(v)
}
