package dataplane

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/dataplane/source"
)

// lldpMAC is the reserved nearest-bridge address (01:80:c2:00:00:0e).
var lldpMAC = [6]byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// toLinkLocal readdresses a frame to the reserved link-local MAC.
func toLinkLocal(f []byte) []byte {
	f = bytes.Clone(f)
	copy(f, lldpMAC[:])
	return f
}

// tagged puts an 802.1Q tag with the given VLAN id in front of the frame's
// ethertype.
func tagged(f []byte, vid uint16) []byte {
	out := append([]byte(nil), f[:12]...)
	out = binary.BigEndian.AppendUint16(out, packet.EtherTypeVLAN)
	out = binary.BigEndian.AppendUint16(out, vid)
	return append(out, f[12:]...)
}

func stpFrame(src [6]byte) []byte {
	f := ethHeader([6]byte{0x01, 0x80, 0xc2, 0, 0, 0}, src, 38) // 802.3 length
	f = append(f, 0x42, 0x42, 0x03)                             // LLC: STP
	return append(f, make([]byte, 35)...)                       // configuration BPDU
}

func lldpFrame(src [6]byte) []byte {
	f := ethHeader(lldpMAC, src, packet.EtherTypeLLDP)
	// Chassis id, port id, TTL, end.
	return append(f, 0x02, 0x07, 0x04, src[0], src[1], src[2], src[3], src[4], src[5],
		0x04, 0x02, 0x07, 0x31, 0x06, 0x02, 0x00, 0x78, 0x00, 0x00)
}

// badChecksum breaks the IPv4 header checksum of an untagged frame.
func badChecksum(f []byte) []byte {
	f = bytes.Clone(f)
	f[14+10] ^= 0xff
	return f
}

// An IP packet sent to a reserved link-local MAC is judged like any other:
// under "set default block" a SYN to 01:80:c2:00:00:0e is blocked by the
// filter, and a malformed one is dropped for what is wrong with it, tagged
// or not. Real link-control frames still cross in both directions.
func TestLinkLocalMACDoesNotBypassThePipeline(t *testing.T) {
	rs, err := rules.Parse("set default block\n")
	if err != nil {
		t.Fatal(err)
	}
	syn := tcp4Frame("198.51.100.7", "192.0.2.10", 40000, 22, packet.TCPFlagSYN)
	synFin := tcp4Frame("198.51.100.7", "192.0.2.10", 40000, 22, packet.TCPFlagSYN|packet.TCPFlagFIN)
	martian := udp4Frame("127.0.0.1", "192.0.2.10", 1, 2, nil)
	tiny := udp4Fragments("198.51.100.7", "192.0.2.10", 9, make([]byte, 64), 16)[0]
	for _, c := range []struct {
		name  string
		frame []byte
		want  reason.Reason
	}{
		{"syn", syn, reason.FilterBlocked},
		{"bad ip checksum", badChecksum(syn), reason.IPChecksumInvalid},
		{"martian source", martian, reason.MartianSource},
		{"syn+fin", synFin, reason.TCPFlagsInvalid},
		{"tiny first fragment", tiny, reason.FragTooSmall},
	} {
		for _, vid := range []uint16{0, 7} {
			frame := toLinkLocal(c.frame)
			name := c.name
			if vid != 0 {
				frame, name = tagged(frame, vid), name+" tagged"
			}
			t.Run(name, func(t *testing.T) {
				e, up, rack := testEngine(t, nil, rs)
				up.Inject(frame)
				pumpAll(e)
				if got := rack.Sent(); len(got) != 0 {
					t.Fatalf("forwarded %x", got[0])
				}
				d := e.Counters().Ports[Uplink].DropsByReason
				if d[c.want] != 1 {
					t.Fatalf("%s drops %d, want 1 (drops %v)", c.want, d[c.want], e.Counters().Ports[Uplink].Drops)
				}
			})
		}
	}

	t.Run("control frames pass", func(t *testing.T) {
		e, up, rack := testEngine(t, nil, rs)
		fromRack := [][]byte{stpFrame(macRack), lldpFrame(macRack), tagged(lldpFrame(macRack), 7)}
		fromUplink := [][]byte{stpFrame(macUplink), lldpFrame(macUplink)}
		for _, f := range fromRack {
			rack.Inject(f)
		}
		for _, f := range fromUplink {
			up.Inject(f)
		}
		pumpAll(e)
		sameFrames(t, "rack→uplink", up.Sent(), fromRack)
		sameFrames(t, "uplink→rack", rack.Sent(), fromUplink)
	})
}

// Quarantine applies to frames to link-local addresses: an IP source's
// packets to a reserved MAC and a quarantined MAC's STP and LLDP frames are
// dropped as quarantined, in user space and once the kernel cuts them,
// while another host's control frames still pass.
func TestQuarantineAppliesToLinkLocalFrames(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	now := time.Now()
	ip, _ := source.Parse("198.51.100.66")
	mac := source.FromMAC(macRack)
	for _, k := range []source.Key{ip, mac} {
		if err := e.Quarantine().Quarantine(k, time.Minute, "test", now); err != nil {
			t.Fatal(err)
		}
	}
	honest := [6]byte{0x02, 0, 0, 0, 0, 0x09}
	check := func(stage string, wantQuarantined uint64) {
		t.Helper()
		up.Inject(toLinkLocal(udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, []byte("x"))))
		up.Inject(tagged(toLinkLocal(udp4Frame("198.51.100.66", "192.0.2.10", 1, 2, []byte("x"))), 7))
		rack.Inject(stpFrame(macRack))
		rack.Inject(lldpFrame(macRack))
		rack.Inject(tagged(lldpFrame(macRack), 7))
		good := lldpFrame(honest)
		rack.Inject(good)
		pumpAll(e)
		sameFrames(t, stage+": uplink→rack", rack.Sent(), nil)
		sameFrames(t, stage+": rack→uplink", up.Sent(), [][]byte{good})
		s := e.Counters()
		if u, r := s.Ports[Uplink].DropsByReason[reason.Quarantined], s.Ports[Rack].DropsByReason[reason.Quarantined]; u+r != wantQuarantined {
			t.Fatalf("%s: %d+%d quarantined drops, want %d", stage, u, r, wantQuarantined)
		}
	}
	check("user space", 5)
	e.updateShedding(now)
	if up.filter == nil || rack.filter == nil {
		t.Fatal("the quarantines did not reach the ports' socket filters")
	}
	check("kernel cut", 10)
}
