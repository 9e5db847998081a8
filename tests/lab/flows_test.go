package lab

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"
)

func TestUDPFlowsFrames(t *testing.T) {
	u := UDPFlows{
		DstMAC: net.HardwareAddr{2, 0x77, 0, 0, 0, 2}, SrcMAC: net.HardwareAddr{2, 0x77, 0, 0, 0, 1},
		Src: ClientV4, Dst: ServerV4(1), DstPort: 7777, FirstSrcPort: 20000, Flows: 1000,
	}
	for _, size := range []int{60, 508, 1514} {
		u.FrameLen = size
		frames, err := u.Frames()
		if err != nil {
			t.Fatal(err)
		}
		if len(frames) != 1000 {
			t.Fatalf("%d frames, want 1000", len(frames))
		}
		seen := map[uint16]bool{}
		for _, f := range frames {
			if len(f) != size {
				t.Fatalf("frame of %d bytes, want %d", len(f), size)
			}
			ip, udp := f[14:34], f[34:]
			if inetChecksum(ip, 0) != 0 {
				t.Fatalf("%d-byte frame: IPv4 header checksum wrong", size)
			}
			if got := binary.BigEndian.Uint16(ip[2:]); int(got) != size-14 {
				t.Fatalf("IPv4 total length %d, want %d", got, size-14)
			}
			var pseudo uint32
			for i := 12; i < 20; i += 2 {
				pseudo += uint32(binary.BigEndian.Uint16(ip[i:]))
			}
			pseudo += 17 + uint32(len(udp))
			if inetChecksum(udp, pseudo) != 0 {
				t.Fatalf("%d-byte frame: UDP checksum wrong", size)
			}
			if dport := binary.BigEndian.Uint16(udp[2:]); dport != 7777 {
				t.Fatalf("destination port %d, want 7777", dport)
			}
			seen[binary.BigEndian.Uint16(udp[0:])] = true
		}
		if len(seen) != 1000 || !seen[20000] || !seen[20999] {
			t.Fatalf("%d distinct source ports (20000 and 20999 present: %v, %v), want 1000", len(seen), seen[20000], seen[20999])
		}
	}
}

func TestUDPFlowsRefusesSizesAndPortsOutOfRange(t *testing.T) {
	base := UDPFlows{Src: ClientV4, Dst: netip.MustParseAddr("10.77.0.21"), Flows: 1, FrameLen: 60,
		DstMAC: make(net.HardwareAddr, 6), SrcMAC: make(net.HardwareAddr, 6)}
	for _, u := range []UDPFlows{
		func() UDPFlows { u := base; u.FrameLen = 59; return u }(),
		func() UDPFlows { u := base; u.FrameLen = 1515; return u }(),
		func() UDPFlows { u := base; u.Flows = 0; return u }(),
		func() UDPFlows { u := base; u.FirstSrcPort = 65000; u.Flows = 1000; return u }(),
	} {
		if _, err := u.Frames(); err == nil {
			t.Errorf("%d flows from port %d of %d bytes: want an error", u.Flows, u.FirstSrcPort, u.FrameLen)
		}
	}
}
