package frag

import "github.com/rackwall/rackwall/dataplane/packet"

// datagramKey identifies the datagram a fragment belongs to: its VLAN tags,
// source, destination, IP ID and, for IPv4, the protocol (POLICY.md, "How
// fragment rules are applied"). It is a plain comparable value so it can key
// a map without allocating.
type datagramKey struct {
	src, dst [16]byte
	id       uint32
	vlan     [packet.MaxVLANTags]uint16 // VLAN ids, outermost first
	numVLAN  uint8
	proto    uint8 // IPv4 only; 0 for IPv6
	v6       bool
}

func keyOf(f *packet.Frame) datagramKey {
	k := datagramKey{
		src: f.Src.As16(),
		dst: f.Dst.As16(),
		id:  f.IPID,
		v6:  f.IPVersion == 6,
	}
	n := f.NumVLAN
	if n > packet.MaxVLANTags {
		n = packet.MaxVLANTags
	}
	for i := 0; i < n; i++ {
		k.vlan[i] = f.VLANTCI[i] & 0x0fff
	}
	k.numVLAN = uint8(n)
	if !k.v6 {
		k.proto = f.Proto
	}
	return k
}
