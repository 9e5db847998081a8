package packet

import (
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// decodeEthernet reads the Ethernet header and the tag stack, applies L1–L3
// and hands the payload to the ARP or IP decoder.
func (f *Frame) decodeEthernet(p *config.Policy) reason.Reason {
	d := f.Data
	if len(d) < ethHeaderLen {
		return reason.FrameTruncated
	}
	copy(f.DstMAC[:], d[0:6])
	copy(f.SrcMAC[:], d[6:12])

	off := 12
	typ := be16(d, off)
	for isVLANTPID(typ) {
		if f.NumVLAN == MaxVLANTags {
			return reason.VLANMalformed
		}
		// A tag is the TPID we just read, the TCI, and the next ethertype.
		if len(d) < off+6 {
			return reason.VLANMalformed
		}
		f.VLANTPID[f.NumVLAN] = typ
		f.VLANTCI[f.NumVLAN] = be16(d, off+2)
		f.NumVLAN++
		off += 4
		typ = be16(d, off)
	}
	if typ >= 0x0600 {
		// Below 0x0600 the field is an 802.3 length (LLC frames such as STP).
		f.EtherType = typ
	}
	f.L3Off = off + 2

	// L1: link-control frames to a reserved link-local address pass the
	// bridge unchanged. Only the protocols that live there qualify: an IP,
	// IPv6 or ARP packet sent to such an address is still an IP packet and
	// is judged below like any other, so the address cannot be used to
	// carry traffic past the H, F and T rules and the filter.
	if p.PassLinkLocal && IsLinkLocalControl(f.DstMAC) && isLinkControlType(typ) {
		return reason.None
	}

	switch f.EtherType {
	case EtherTypeIPv4:
		return f.decodeIPv4(f.L3Off, p)
	case EtherTypeIPv6:
		return f.decodeIPv6(f.L3Off)
	case EtherTypeARP:
		return f.decodeARP()
	}
	if f.EtherType != 0 {
		for _, t := range p.ExtraEthertypes {
			if t == f.EtherType {
				return reason.None
			}
		}
	}
	return reason.EthertypeBlocked
}

// isLinkControlType reports whether the type/length field after the tags
// names a link-control protocol: an 802.3 length (LLC frames: STP BPDUs,
// and the like), LLDP, 802.1X or the slow protocols.
func isLinkControlType(typ uint16) bool {
	return typ < 0x0600 || typ == EtherTypeLLDP || typ == EtherTypeEAPOL || typ == EtherTypeSlow
}

func isVLANTPID(t uint16) bool {
	return t == EtherTypeVLAN || t == EtherTypeQinQ || t == EtherTypeQinQ1
}

// IsLinkLocalControl reports whether a destination MAC is one of the IEEE
// 802.1D reserved addresses 01:80:c2:00:00:00–0f (STP, LACP, 802.1X, LLDP),
// which a bridge never forwards on its own but which a bump in the wire must
// pass (L1). The address alone does not make a frame a control frame: L1
// also asks for a link-control type (isLinkControlType).
func IsLinkLocalControl(dst [6]byte) bool {
	return dst[0] == 0x01 && dst[1] == 0x80 && dst[2] == 0xc2 &&
		dst[3] == 0 && dst[4] == 0 && dst[5]&0xf0 == 0
}

// ARP for Ethernet and IPv4 is 28 bytes: htype, ptype, hlen, plen, op, then
// sender and target hardware and protocol addresses.
const arpLen = 28

func (f *Frame) decodeARP() reason.Reason {
	a := f.Data[f.L3Off:]
	if len(a) < 8 {
		return reason.FrameTruncated
	}
	htype, ptype, hlen, plen := be16(a, 0), be16(a, 2), a[4], a[5]
	// Hardware type 1 is Ethernet, 6 is IEEE 802 networks: both carry
	// 48-bit MACs.
	if htype != 1 && htype != 6 || ptype != EtherTypeIPv4 || hlen != 6 || plen != 4 {
		return reason.ARPMalformed
	}
	if len(a) < arpLen {
		return reason.FrameTruncated
	}
	f.L3End = f.L3Off + arpLen
	return reason.None
}
