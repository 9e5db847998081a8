package packet

import "net/netip"

// DHCP ports: a client without an address sends from 0.0.0.0:68 to port 67.
const (
	dhcpClientPort = 68
	dhcpServerPort = 67
)

// isMartianV4 applies H2 to a decoded IPv4 frame: 0.0.0.0/8 (except DHCP
// discovery from 0.0.0.0), 127.0.0.0/8, 224.0.0.0/4 and 255.255.255.255 are
// never valid sources. The DHCP exception needs the UDP header, so it only
// holds when the frame carries it (not for a non-first fragment).
func isMartianV4(f *Frame) bool {
	a := f.Src.As4()
	switch {
	case a[0] == 0:
		return !(a == [4]byte{} && f.Proto == ProtoUDP && f.L4Len >= udpHeaderLen &&
			f.SrcPort == dhcpClientPort && f.DstPort == dhcpServerPort)
	case a[0] == 127:
		return true
	case a[0]&0xf0 == 224:
		return true
	case a == [4]byte{255, 255, 255, 255}:
		return true
	}
	return false
}

// IsMartianSourceV6 applies H2 to an IPv6 source: the unspecified address
// ::, the loopback ::1 and any multicast address ff00::/8.
// IPv4-mapped addresses are judged as the IPv6 addresses they are.
func IsMartianSourceV6(a netip.Addr) bool {
	b := a.As16()
	if b[0] == 0xff {
		return true
	}
	for _, x := range b[:15] {
		if x != 0 {
			return false
		}
	}
	return b[15] <= 1
}

// ICMPv6 messages a host sends from :: before it owns an address (RFC 4862
// duplicate address detection, RFC 3810 section 5.2.13, RFC 4861 6.3.7).
const (
	icmp6RouterSolicit   = 133
	icmp6NeighborSolicit = 135
	icmp6MLDv2Report     = 143
)

// isUnspecifiedSourceAllowed is H2's IPv6 counterpart of the DHCP exception:
// a host that is still bringing its address up must send duplicate address
// detection, its listener report and a router solicitation from ::, and only
// to link-scope multicast (ff02::/16). A wire that dropped them would break
// address configuration on every host behind it.
func isUnspecifiedSourceAllowed(f *Frame) bool {
	if f.Src != netip.IPv6Unspecified() || f.Proto != ProtoICMPv6 || f.L4Off == 0 || f.L4Off >= f.L3End {
		return false
	}
	if d := f.Dst.As16(); d[0] != 0xff || d[1] != 0x02 {
		return false
	}
	switch f.Data[f.L4Off] {
	case icmp6RouterSolicit, icmp6NeighborSolicit, icmp6MLDv2Report:
		return true
	}
	return false
}
