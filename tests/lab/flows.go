package lab

import (
	"fmt"
	"net"
	"net/netip"
)

// UDPFlows describes a stream of IPv4 UDP frames of one size spread over a
// number of flows that differ only in their source port, as a load
// generator sends them.
type UDPFlows struct {
	DstMAC, SrcMAC net.HardwareAddr
	Src, Dst       netip.Addr
	DstPort        uint16
	// FirstSrcPort is the source port of the first flow; flow i uses
	// FirstSrcPort+i.
	FirstSrcPort uint16
	Flows        int
	// FrameLen is the Ethernet frame without its FCS: 60 for a
	// minimum-size frame, 1514 for a full 1500-byte IP packet.
	FrameLen int
}

// Frames builds one frame per flow, checksums set.
func (u UDPFlows) Frames() ([][]byte, error) {
	const headers = 14 + 20 + 8
	if u.FrameLen < 60 || u.FrameLen > 1514 {
		return nil, fmt.Errorf("frame length %d: want 60..1514", u.FrameLen)
	}
	if u.Flows < 1 || int(u.FirstSrcPort)+u.Flows-1 > 65535 {
		return nil, fmt.Errorf("%d flows from source port %d: out of port range", u.Flows, u.FirstSrcPort)
	}
	payload := make([]byte, u.FrameLen-headers)
	frames := make([][]byte, u.Flows)
	for i := range frames {
		frames[i] = udp4Frame(u.DstMAC, u.SrcMAC, u.Src, u.Dst, 0, false, 0, u.FirstSrcPort+uint16(i), u.DstPort, payload)
	}
	return frames, nil
}
