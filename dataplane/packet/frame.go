// Package packet decodes Ethernet frames into a preallocated Frame without
// allocating, and holds the header rules of POLICY.md that a single frame can
// break on its own (L1–L3, H1–H4, T1–T2), the T3 header rewrites, and the
// Internet checksum helpers the rewrites, reassembly and port I/O need.
//
// A Frame only points into the bytes it was decoded from; it is valid until
// those bytes are reused.
package packet

import "net/netip"

// Direction says which way a frame crosses the bridge.
type Direction uint8

const (
	// In is from the uplink toward the rack.
	In Direction = iota
	// Out is from the rack toward the uplink.
	Out
)

func (d Direction) String() string {
	if d == In {
		return "in"
	}
	return "out"
}

// MaxVLANTags is how deep a tag stack may be (802.1ad outer + 802.1Q inner).
const MaxVLANTags = 2

// Frame is one decoded Ethernet frame. Offsets index into Data.
type Frame struct {
	Data []byte // the whole frame as received

	DstMAC, SrcMAC [6]byte
	NumVLAN        int                 // tags found in the frame itself
	VLANTPID       [MaxVLANTags]uint16 // outermost first
	VLANTCI        [MaxVLANTags]uint16
	EtherType      uint16 // after the tags

	L3Off int // offset of the ARP/IP header
	L3End int // end of the IP packet by its own length field (Ethernet padding excluded)

	IPVersion uint8 // 0 (not IP), 4 or 6
	Src, Dst  netip.Addr
	TTL       uint8  // IPv4 TTL or IPv6 hop limit
	IPHdrLen  int    // IPv4 header length incl. options, or IPv6 fixed header (40) plus extension headers before the fragment header (all extension headers when there is none)
	Proto     uint8  // upper-layer protocol after all extension headers (IPv6) or the IPv4 protocol field; for a non-first IPv6 fragment the fragment header's next header
	IPID      uint32 // IPv4 identification or IPv6 fragment header identification

	// Fragment fields. For IPv6 an atomic fragment (offset 0, M=0) has
	// Fragment false and Atomic true: it is judged as a whole packet (F9).
	Fragment    bool
	Atomic      bool
	FragOffset  int  // in bytes
	MoreFrags   bool // M / MF flag
	DontFrag    bool // IPv4 DF
	FragHdrOff  int  // IPv6: offset of the fragment header in Data
	FragDataOff int  // offset of the fragmentable payload (IPv4: after the IP header; IPv6: after the fragment header); set for every IPv4 packet and every IPv6 packet with a fragment header
	FragDataLen int  // bytes of fragmentable payload in this fragment

	// IPv6 only, set when a fragment header is present (fragments and
	// atomic fragments): what a reassembler needs to rebuild the
	// unfragmentable part in front of the reassembled payload.
	FragNextHeader uint8 // next header named by the fragment header
	FragNHOff      int   // offset in Data of the next-header byte that names the fragment header

	// ChainComplete reports that the frame holds every header up to and
	// including the complete transport header: all IPv6 extension headers,
	// then TCP (20 bytes and its whole data offset), UDP 8, ICMP/ICMPv6 8 or
	// SCTP 12 bytes; for other upper-layer protocols reaching the protocol is
	// enough, and ESP or no-next-header end the chain. It is what F5 asks of a
	// first fragment (RFC 7112). Always false for non-first fragments.
	ChainComplete bool

	// Transport header of TCP, UDP, ICMP, ICMPv6 and SCTP (L4Off stays 0
	// for other protocols and for non-first fragments). In a whole packet
	// L4Off is set even when the header is cut short, so CheckTransport can
	// judge it; the fields below are read only when their bytes are there.
	// In a first fragment L4Off > 0 only when the header is complete.
	L4Off    int
	L4Len    int // bytes from L4Off to L3End
	SrcPort  uint16
	DstPort  uint16
	TCPFlags uint8
	TCPSeq   uint32
	TCPAck   uint32
	TCPWin   uint16
	ICMPType uint8
	ICMPCode uint8
	ICMPID   uint16 // echo identifier, for ICMP pseudo-connections

	// VNet is the offload state the port handed with the frame, once
	// CheckVNetHdr accepted it (gso.go); zero for a plain wire frame.
	VNet VNetHdr
}
