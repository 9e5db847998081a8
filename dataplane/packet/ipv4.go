package packet

import (
	"net/netip"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
)

const ipv4MinHeaderLen = 20

// IPv4 option kinds H3 cares about.
const (
	ipv4OptEOL  = 0
	ipv4OptNOP  = 1
	ipv4OptLSRR = 131
	ipv4OptSSRR = 137
)

// decodeIPv4 checks H1–H3 on the IPv4 header at off and decodes it.
//
// Precedence inside the header: a header that cannot be read or a length
// field that points past the frame is L3 (FrameTruncated); a field that is
// wrong in itself (version, IHL, total length below the header length) is
// H1 (IPHeaderInvalid); then the header checksum (H1), the source (H2) and
// the options (H3).
func (f *Frame) decodeIPv4(off int, p *config.Policy) reason.Reason {
	d := f.Data
	if len(d)-off < ipv4MinHeaderLen {
		return reason.FrameTruncated
	}
	h := d[off:]
	if h[0]>>4 != 4 {
		return reason.IPHeaderInvalid
	}
	f.IPVersion = 4
	f.Src = netip.AddrFrom4([4]byte(h[12:16]))
	f.Dst = netip.AddrFrom4([4]byte(h[16:20]))
	ihl := int(h[0]&0x0f) * 4
	if ihl < ipv4MinHeaderLen {
		return reason.IPHeaderInvalid
	}
	if ihl > len(h) {
		return reason.FrameTruncated
	}
	total := int(be16(h, 2))
	if total < ihl {
		return reason.IPHeaderInvalid
	}
	if total > len(h) {
		return reason.FrameTruncated
	}
	f.L3End = off + total
	f.IPHdrLen = ihl
	f.TTL = h[8]
	f.Proto = h[9]
	f.IPID = uint32(be16(h, 4))
	if !VerifyIPv4HeaderChecksum(h[:ihl]) {
		return reason.IPChecksumInvalid
	}

	fragField := be16(h, 6)
	f.DontFrag = fragField&0x4000 != 0
	f.MoreFrags = fragField&0x2000 != 0
	f.FragOffset = int(fragField&0x1fff) * 8
	f.FragDataOff = off + ihl
	f.FragDataLen = total - ihl
	f.Fragment = f.MoreFrags || f.FragOffset != 0

	// The transport header is read before H2 because the DHCP exception
	// needs the ports.
	if f.FragOffset == 0 {
		f.decodeTransport(off+ihl, f.Fragment)
	}
	if isMartianV4(f) {
		return reason.MartianSource
	}
	return checkIPv4Options(h[ipv4MinHeaderLen:ihl], p.IPOptions)
}

// checkIPv4Options applies H3 to the option bytes of an IPv4 header.
func checkIPv4Options(opts []byte, mode config.IPOptions) reason.Reason {
	if len(opts) == 0 {
		return reason.None
	}
	sourceRoute := false
	for i := 0; i < len(opts); {
		switch opts[i] {
		case ipv4OptEOL:
			i = len(opts) // the rest is padding
			continue
		case ipv4OptNOP:
			i++
			continue
		}
		if i+1 >= len(opts) {
			return reason.IPOptionsInvalid
		}
		n := int(opts[i+1])
		if n < 2 || i+n > len(opts) {
			return reason.IPOptionsInvalid
		}
		if opts[i] == ipv4OptLSRR || opts[i] == ipv4OptSSRR {
			sourceRoute = true
		}
		i += n
	}
	switch mode {
	case config.IPOptionsDrop:
		return reason.IPSourceRoute
	case config.IPOptionsNoSourceRoute:
		if sourceRoute {
			return reason.IPSourceRoute
		}
	}
	return reason.None
}
