// Package reason is the closed list of verdict reasons. Every frame the box
// drops is charged to exactly one Reason; each Reason names the POLICY.md rule
// it enforces. Counters, drop captures and the UI all key on these values, so
// the list is append-only: never renumber an existing entry.
package reason

// Reason says why a frame was dropped. The zero value, None, means the frame
// was not dropped.
type Reason uint8

const (
	None Reason = iota

	// Link layer (L rules).
	FrameTruncated   // L3: shorter than its headers claim
	EthertypeBlocked // L2: ethertype not on the allow-list
	ARPMalformed     // L2: ARP with wrong lengths for Ethernet/IPv4
	VLANMalformed    // L3: VLAN tag stack truncated or too deep

	// IP headers (H rules).
	IPHeaderInvalid        // H1: version, IHL, lengths
	IPChecksumInvalid      // H1: IPv4 header checksum
	IPv6ExtChainInvalid    // H1: IPv6 extension header chain malformed or truncated
	MartianSource          // H2
	IPOptionsInvalid       // H3: malformed option lengths
	IPSourceRoute          // H3: loose/strict source route (or any option under ip_options: drop)
	IPv6FragHeaderRepeated // H4: more than one fragment header
	IPv6RoutingType0       // H4

	// Fragments (F rules).
	FragBadLength       // F2: non-final payload not a non-zero multiple of 8, or zero length
	FragDontFragment    // F2: IPv4 fragment with DF set
	FragTooLarge        // F3: reassembled datagram over 65,535 bytes
	FragOverlap         // F4: overlapping fragments with different content
	FragDuplicate       // F4: exact duplicate, dropped alone
	FragFirstIncomplete // F5: first fragment lacks the full transport header / header chain
	FragTooSmall        // F6: non-final fragment under min_fragment_bytes
	FragTooMany         // F7: more than max_fragments
	FragTimeout         // F8: not complete within fragment_timeout
	FragChecksum        // F10: transport checksum of the reassembled datagram
	FragMemory          // F11: evicted to keep the source within its memory share or the global budget
	FragRateLimited     // F11: source over its fragment rate limit

	// Transport headers (T rules).
	TCPHeaderInvalid // T1: data offset or options malformed
	TCPFlagsInvalid  // T1: SYN+FIN, SYN+RST, FIN without ACK, no flags
	UDPLengthInvalid // T2
	ICMPTooShort     // T2
	ChecksumInvalid  // F10 with verify_checksums: all — transport checksum of an unfragmented packet

	// Containment (Q rules).
	Quarantined // Q1: the source is quarantined

	// Filter (FW rules, see docs/POLICY.md).
	FilterBlocked   // FW1: a block rule or the default policy
	ConnInvalid     // FW2: not part of a tracked connection where one is required (unsolicited reply, bad window)
	ConnTableFull   // FW3: connection table full
	ConnRateLimited // FW3: source over its new-connection rate (counts toward Q1)

	// Link layer again (appended: the list never renumbers).
	OffloadInvalid // L3: offload metadata (virtio_net_hdr) disagrees with the frame

	numReasons // keep last
)

// Count is the number of reasons including None; arrays indexed by Reason use it.
const Count = int(numReasons)

type info struct {
	name string
	rule string
	text string
}

var infos = [numReasons]info{
	None:                   {"none", "", "not dropped"},
	FrameTruncated:         {"frame_truncated", "L3", "frame shorter than its headers claim"},
	EthertypeBlocked:       {"ethertype_blocked", "L2", "ethertype not on the allow-list"},
	ARPMalformed:           {"arp_malformed", "L2", "ARP with wrong lengths for Ethernet/IPv4"},
	VLANMalformed:          {"vlan_malformed", "L3", "VLAN tag stack truncated or deeper than two tags"},
	IPHeaderInvalid:        {"ip_header_invalid", "H1", "IP version, header length or total length invalid"},
	IPChecksumInvalid:      {"ip_checksum_invalid", "H1", "IPv4 header checksum wrong"},
	IPv6ExtChainInvalid:    {"ipv6_ext_chain_invalid", "H1", "IPv6 extension header chain malformed or truncated"},
	MartianSource:          {"martian_source", "H2", "martian source address"},
	IPOptionsInvalid:       {"ip_options_invalid", "H3", "IPv4 option lengths malformed"},
	IPSourceRoute:          {"ip_source_route", "H3", "IPv4 source route option (or options refused by ip_options)"},
	IPv6FragHeaderRepeated: {"ipv6_frag_header_repeated", "H4", "more than one IPv6 fragment header"},
	IPv6RoutingType0:       {"ipv6_routing_type0", "H4", "IPv6 routing header type 0"},
	FragBadLength:          {"frag_bad_length", "F2", "fragment payload zero or not a multiple of 8"},
	FragDontFragment:       {"frag_df_set", "F2", "IPv4 fragment with DF set"},
	FragTooLarge:           {"frag_too_large", "F3", "reassembled datagram larger than 65,535 bytes"},
	FragOverlap:            {"frag_overlap", "F4", "overlapping fragments with different content"},
	FragDuplicate:          {"frag_duplicate", "F4", "exact duplicate fragment"},
	FragFirstIncomplete:    {"frag_first_incomplete", "F5", "first fragment without the complete transport header"},
	FragTooSmall:           {"frag_too_small", "F6", "non-final fragment smaller than min_fragment_bytes"},
	FragTooMany:            {"frag_too_many", "F7", "more than max_fragments fragments"},
	FragTimeout:            {"frag_timeout", "F8", "datagram not complete within fragment_timeout"},
	FragChecksum:           {"frag_checksum", "F10", "transport checksum of the reassembled datagram wrong"},
	FragMemory:             {"frag_memory", "F11", "evicted to stay within the fragment memory budget"},
	FragRateLimited:        {"frag_rate_limited", "F11", "source over its fragment rate limit"},
	TCPHeaderInvalid:       {"tcp_header_invalid", "T1", "TCP data offset or options malformed"},
	TCPFlagsInvalid:        {"tcp_flags_invalid", "T1", "invalid TCP flag combination"},
	UDPLengthInvalid:       {"udp_length_invalid", "T2", "UDP length field wrong"},
	ICMPTooShort:           {"icmp_too_short", "T2", "ICMP message shorter than 8 bytes"},
	ChecksumInvalid:        {"checksum_invalid", "F10", "transport checksum wrong (verify_checksums: all)"},
	Quarantined:            {"quarantined", "Q1", "source is quarantined"},
	FilterBlocked:          {"filter_blocked", "FW1", "blocked by a rule or the default policy"},
	ConnInvalid:            {"conn_invalid", "FW2", "not part of a tracked connection"},
	ConnTableFull:          {"conn_table_full", "FW3", "connection table full"},
	ConnRateLimited:        {"conn_rate_limited", "FW3", "source over its new-connection rate"},
	OffloadInvalid:         {"offload_invalid", "L3", "GSO or checksum offload metadata disagrees with the frame's headers"},
}

// String returns the reason's label, as used in metrics and captures.
func (r Reason) String() string {
	if int(r) >= Count {
		return "unknown"
	}
	return infos[r].name
}

// Rule returns the POLICY.md rule id the reason enforces ("" for None).
func (r Reason) Rule() string {
	if int(r) >= Count {
		return ""
	}
	return infos[r].rule
}

// Description is a short human sentence for the UI and docs/POLICY.md.
func (r Reason) Description() string {
	if int(r) >= Count {
		return "unknown reason"
	}
	return infos[r].text
}

// IsViolation reports whether a drop for this reason counts toward the
// source's quarantine threshold (Q1). Frames dropped because the source is
// already quarantined, or evicted for memory, are not new violations.
func (r Reason) IsViolation() bool {
	switch r {
	case None, Quarantined, FragMemory:
		return false
	}
	return true
}

// All returns every reason except None, in list order.
func All() []Reason {
	out := make([]Reason, 0, Count-1)
	for r := Reason(1); r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Parse returns the reason with the given label.
func Parse(name string) (Reason, bool) {
	for r := Reason(0); r < numReasons; r++ {
		if infos[r].name == name {
			return r, true
		}
	}
	return None, false
}
