package packet

import "github.com/rackwall/rackwall/dataplane/reason"

// Offloaded frames. A port that runs with the offloads its NIC offers
// hands the box GRO aggregates (many in-order TCP or UDP segments of one
// flow merged behind one set of headers, up to 64 KiB) and frames whose
// transport checksum is only partly computed, each with a virtio_net_hdr
// saying so; the same header sent back with a frame has the kernel or the
// NIC cut it into segments and complete the checksum. An aggregate's
// headers are those every segment will carry, so they are judged once;
// what counts per segment (counters, rate limits) counts Segments.

// VNetHdr is the offload state of a frame: struct virtio_net_hdr, field
// for field as afpacket.VNetHdr (the engine converts between the two).
// Offsets count from the first byte of the Ethernet frame. The zero value
// means no offload: one wire frame with a complete checksum.
type VNetHdr struct {
	Flags      uint8  // VNetNeedsCsum, VNetDataValid
	GSOType    uint8  // GSONone, GSOTCPv4, GSOTCPv6, GSOUDPL4, optionally | GSOECN
	HdrLen     uint16 // headers every segment repeats (a hint)
	GSOSize    uint16 // payload bytes per segment
	CsumStart  uint16 // where the partial checksum's coverage starts: the transport header
	CsumOffset uint16 // the checksum field, counted from CsumStart
}

// Flags and GSO types of linux/virtio_net.h.
const (
	VNetNeedsCsum = 1 // the transport checksum is partial: only the pseudo header is summed in
	VNetDataValid = 2 // the receiving NIC or kernel verified the checksum

	GSONone  = 0
	GSOTCPv4 = 1
	GSOUDP   = 3 // UDP fragmentation offload: refused, it would emit IP fragments nobody judged
	GSOTCPv6 = 4
	GSOUDPL4 = 5
	GSOECN   = 0x80 // TCP with ECN; only beside GSOTCPv4 or GSOTCPv6
)

// IsGSO reports whether the frame is an aggregate to be cut into segments.
func (h VNetHdr) IsGSO() bool { return h.GSOType != GSONone }

// PartialChecksum reports whether the transport checksum field holds only
// the pseudo-header sum, to be completed from CsumStart on the way out.
func (h VNetHdr) PartialChecksum() bool { return h.Flags&VNetNeedsCsum != 0 }

// CheckVNetHdr judges a frame's offload state against its own headers
// and, when it agrees, records it in f.VNet, where CheckTransport,
// Rewrite and Segments take it into account. f must be a frame Decode
// accepted. A header that disagrees is reason.OffloadInvalid (L3):
//
//   - flags other than VNetNeedsCsum or VNetDataValid, or both at once;
//   - HdrLen beyond the frame;
//   - a partial checksum anywhere but at the TCP or UDP checksum of a
//     whole packet: CsumStart must be the transport header and
//     CsumOffset its checksum field;
//   - an aggregate that is not a whole TCP or UDP packet: any IP fragment
//     (GRO never merges them, and the segments of a fragment would be
//     fragments no rule judged), an IPv6 atomic fragment, a GSO type that
//     disagrees with the headers (GSOTCPv4 on IPv6 or on UDP, GSOUDPL4
//     on TCP), UDP fragmentation offload, an unknown type, GSOSize 0, a
//     transport header cut short, no payload, bytes after the end of the
//     IP packet (they would be cut into segments as payload), or
//     GSOUDPL4 without a partial checksum (the kernel refuses it).
//
// A zero header is always accepted. CheckVNetHdr never allocates.
func (f *Frame) CheckVNetHdr(h VNetHdr) reason.Reason {
	if h == (VNetHdr{}) {
		f.VNet = h
		return reason.None
	}
	if h.Flags&^(VNetNeedsCsum|VNetDataValid) != 0 || h.Flags == VNetNeedsCsum|VNetDataValid {
		return reason.OffloadInvalid
	}
	if int(h.HdrLen) > len(f.Data) {
		return reason.OffloadInvalid
	}
	if h.PartialChecksum() && !f.partialChecksumFits(h) {
		return reason.OffloadInvalid
	}
	if h.IsGSO() && !f.aggregateFits(h) {
		return reason.OffloadInvalid
	}
	f.VNet = h
	return reason.None
}

// partialChecksumFits reports whether CsumStart and CsumOffset name the
// checksum field of the frame's own TCP or UDP header.
func (f *Frame) partialChecksumFits(h VNetHdr) bool {
	if f.IPVersion == 0 || f.Fragment || f.L4Off <= 0 || (f.Proto != ProtoTCP && f.Proto != ProtoUDP) {
		return false
	}
	off, _ := ChecksumOffset(f.Proto)
	return int(h.CsumStart) == f.L4Off && int(h.CsumOffset) == off &&
		f.L4Off+off+2 <= f.L3End && f.L3End <= len(f.Data)
}

// aggregateFits reports whether the GSO fields describe the frame: a
// whole TCP or UDP packet of the type's IP version with payload to cut.
func (f *Frame) aggregateFits(h VNetHdr) bool {
	if h.GSOSize == 0 || f.IPVersion == 0 || f.Fragment || f.Atomic || f.L4Off <= 0 {
		return false
	}
	switch h.GSOType {
	case GSOTCPv4, GSOTCPv4 | GSOECN:
		if f.IPVersion != 4 || f.Proto != ProtoTCP {
			return false
		}
	case GSOTCPv6, GSOTCPv6 | GSOECN:
		if f.IPVersion != 6 || f.Proto != ProtoTCP {
			return false
		}
	case GSOUDPL4:
		if f.Proto != ProtoUDP || !h.PartialChecksum() {
			return false
		}
	default:
		return false
	}
	if f.L3End != len(f.Data) {
		return false
	}
	return f.segmentPayload() > 0
}

// segmentPayload is the payload an aggregate's segments share out: the
// bytes after the complete TCP or UDP header; -1 when that header is cut
// short or the protocol is neither.
func (f *Frame) segmentPayload() int {
	if f.L4Off <= 0 || f.L3End > len(f.Data) || f.L4Off > f.L3End {
		return -1
	}
	seg := f.Data[f.L4Off:f.L3End]
	var hl int
	switch f.Proto {
	case ProtoTCP:
		if len(seg) < tcpMinHeaderLen {
			return -1
		}
		hl = int(seg[12]>>4) * 4
		if hl < tcpMinHeaderLen {
			return -1
		}
	case ProtoUDP:
		hl = udpHeaderLen
	default:
		return -1
	}
	if hl > len(seg) {
		return -1
	}
	return len(seg) - hl
}

// Segments is how many frames f becomes on the wire: 1, or for an
// aggregate (f.VNet.IsGSO, set by CheckVNetHdr) its payload divided into
// GSOSize pieces, rounded up. Counters and rate limits count these.
func (f *Frame) Segments() int {
	if !f.VNet.IsGSO() || f.VNet.GSOSize == 0 {
		return 1
	}
	p := f.segmentPayload()
	if p <= 0 {
		return 1
	}
	return (p + int(f.VNet.GSOSize) - 1) / int(f.VNet.GSOSize)
}

// ChecksumComplete reports whether f's transport checksum field holds a
// full checksum that can be verified: not when it is partial, and not in
// an aggregate, whose field was never the checksum of the whole (each
// segment gets its own on the way out; the receiving side verified each
// one that went in).
func (f *Frame) ChecksumComplete() bool {
	return !f.VNet.PartialChecksum() && !f.VNet.IsGSO()
}

// FinishPartialChecksum completes a partial transport checksum in
// software, for a frame that leaves through a port without offload
// metadata, and clears VNetNeedsCsum. Aggregates cannot leave such a port
// at all; it leaves them alone and reports false.
func (f *Frame) FinishPartialChecksum() bool {
	if f.VNet.IsGSO() {
		return false
	}
	if f.VNet.PartialChecksum() {
		FinishOffloadChecksum(f.Data[:f.L3End], int(f.VNet.CsumStart), int(f.VNet.CsumOffset))
		f.VNet.Flags &^= VNetNeedsCsum
	}
	return true
}
