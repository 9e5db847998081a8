package packet

import (
	"math/rand/v2"

	"github.com/rackwall/rackwall/dataplane/config"
)

// Rewrite applies the T3 rewrites the policy turns on to a decoded whole
// packet, in place in f.Data, and fixes every checksum it touches:
//
//   - min_ttl: raise an IPv4 TTL or IPv6 hop limit below MinTTL to it;
//   - max_mss: clamp the MSS option of TCP SYNs (and SYN-ACKs) to MaxMSS;
//   - clear_df: clear the IPv4 don't-fragment flag;
//   - random_ip_id: give an IPv4 packet a fresh random identification.
//
// Callers apply it only to frames Decode accepted that are not fragments
// (rewriting one fragment would corrupt its datagram); it refuses
// fragments itself too. It reports whether a byte changed and never
// allocates.
func (f *Frame) Rewrite(p *config.Policy) (changed bool) {
	if p == nil || f.IPVersion == 0 || f.Fragment || f.L3End > len(f.Data) {
		return false
	}
	switch f.IPVersion {
	case 4:
		if f.L3Off+f.IPHdrLen > f.L3End || f.IPHdrLen < ipv4MinHeaderLen {
			return false
		}
		changed = f.rewriteIPv4(p)
	case 6:
		if f.L3End-f.L3Off < ipv6HeaderLen {
			return false
		}
		if p.MinTTL > 0 && f.TTL < p.MinTTL {
			f.Data[f.L3Off+7] = p.MinTTL
			f.TTL = p.MinTTL
			changed = true
		}
	}
	if p.MaxMSS > 0 && f.clampMSS(p.MaxMSS) {
		changed = true
	}
	return changed
}

// rewriteIPv4 applies the IPv4 header rewrites, updating the header
// checksum word by word (RFC 1624) as it goes.
func (f *Frame) rewriteIPv4(p *config.Policy) (changed bool) {
	h := f.Data[f.L3Off : f.L3Off+f.IPHdrLen]
	csum := be16(h, 10)
	set := func(off int, v uint16) {
		old := be16(h, off)
		if old == v {
			return
		}
		put16(h, off, v)
		csum = UpdateChecksum16(csum, old, v)
		changed = true
	}
	if p.MinTTL > 0 && f.TTL < p.MinTTL {
		// TTL and protocol share a word.
		set(8, uint16(p.MinTTL)<<8|uint16(h[9]))
		f.TTL = p.MinTTL
	}
	if p.ClearDF && f.DontFrag {
		set(6, be16(h, 6)&^0x4000)
		f.DontFrag = false
	}
	if p.RandomIPID {
		// The runtime's per-thread generator: cheap, lock-free and
		// allocation-free, and not predictable from earlier IDs.
		// A fresh ID differs from the one the sender chose.
		id := uint16(rand.Uint32())
		for id == be16(h, 4) {
			id = uint16(rand.Uint32())
		}
		set(4, id)
		f.IPID = uint32(id)
	}
	if changed {
		put16(h, 10, csum)
	}
	return changed
}

// clampMSS lowers the MSS option of a TCP SYN above max to max and updates
// the TCP checksum, unless it is partial (f.VNet), when it is completed
// later over the clamped option. Options that do not parse are left alone:
// T1 judges them.
func (f *Frame) clampMSS(maxMSS uint16) bool {
	if f.Proto != ProtoTCP || f.L4Off <= 0 || f.L4Len < tcpMinHeaderLen || f.L4Off+f.L4Len > len(f.Data) {
		return false
	}
	seg := f.Data[f.L4Off : f.L4Off+f.L4Len]
	if seg[13]&TCPFlagSYN == 0 {
		return false
	}
	hl := int(seg[12]>>4) * 4
	if hl < tcpMinHeaderLen || hl > len(seg) {
		return false
	}
	for i := tcpMinHeaderLen; i < hl; {
		switch seg[i] {
		case tcpOptEOL:
			return false
		case tcpOptNOP:
			i++
			continue
		}
		if i+1 >= hl {
			return false
		}
		n := int(seg[i+1])
		if n < 2 || i+n > hl {
			return false
		}
		if seg[i] == tcpOptMSS && n == 4 {
			if be16(seg, i+2) <= maxMSS {
				return false
			}
			// The option may start at an odd offset, so the value can
			// straddle two of the 16-bit words the checksum is made of:
			// update the checksum for each word it touches.
			lo, hi := (i+2)&^1, (i+5)&^1
			var before [2]uint16
			for w := lo; w < hi; w += 2 {
				before[(w-lo)/2] = be16(seg, w)
			}
			put16(seg, i+2, maxMSS)
			if f.VNet.PartialChecksum() {
				// The field holds the pseudo-header sum only; the
				// option is summed in when the checksum is completed.
				return true
			}
			csum := be16(seg, 16)
			for w := lo; w < hi; w += 2 {
				csum = UpdateChecksum16(csum, before[(w-lo)/2], be16(seg, w))
			}
			put16(seg, 16, csum)
			return true
		}
		i += n
	}
	return false
}
