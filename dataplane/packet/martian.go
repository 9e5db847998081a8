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
