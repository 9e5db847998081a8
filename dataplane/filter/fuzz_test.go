package filter

import (
	"encoding/binary"
	"testing"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// FuzzJudge feeds arbitrary transport bytes (TCP headers with options, ICMP
// errors with quoted packets) to a filter that tracks a few connections.
// Mode picks the family, protocol and direction. The filter must not
// panic, must answer one of its four reasons, and its table must stay
// consistent.
func FuzzJudge(f *testing.F) {
	f.Add([]byte{0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 77, 0, 21, 192, 0, 2, 99, 0x82, 0x9a, 0x82, 0x9b, 0, 8, 0, 0}, uint8(0))
	f.Fuzz(func(t *testing.T, l4 []byte, mode uint8) {
		p := testPolicy()
		p.MaxConnections = 8
		flt := New(p)
		rs, _ := rules.Parse("set default block\npass out all\npass in proto tcp to any port 80\n")
		flt.Load(rs)
		// Some state for the fuzzed packet to relate to.
		flt.Decide(udp(web1, "192.0.2.99", 33434, 33435).frame(), packet.Out, t0)
		flt.Decide(tcp(web1, "192.0.2.99", 40000, 443, tcpSYN, 1000, 0).frame(), packet.Out, t0)
		flt.Decide(tcp(web6, client6, 40000, 443, tcpSYN, 1000, 0).frame(), packet.Out, t0)

		src, dst := "192.0.2.1", web1
		if mode&1 != 0 {
			src, dst = client6, web6
		}
		protos := []uint8{rules.ProtoICMP, rules.ProtoTCP, rules.ProtoUDP, rules.ProtoICMPv6}
		proto := protos[mode>>1&3]
		fr := pkt{src: src, dst: dst, proto: proto, wscale: -1}.frame()
		fr.Data = append(fr.Data[:fr.L4Off], l4...)
		fr.L3End, fr.L4Len = len(fr.Data), len(l4)
		if len(l4) >= 8 {
			fr.SrcPort, fr.DstPort = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
			fr.ICMPType, fr.ICMPCode, fr.ICMPID = l4[0], l4[1], binary.BigEndian.Uint16(l4[4:])
		}
		if len(l4) >= 20 {
			fr.TCPSeq, fr.TCPAck = binary.BigEndian.Uint32(l4[4:]), binary.BigEndian.Uint32(l4[8:])
			fr.TCPFlags, fr.TCPWin = l4[13], binary.BigEndian.Uint16(l4[14:])
		}
		if len(l4) < 8 {
			fr.L4Off = 0 // the decoder leaves no transport header
		}
		dir := packet.Direction(mode >> 3 & 1)
		switch r := flt.Decide(fr, dir, t0); r {
		case reason.None, reason.FilterBlocked, reason.ConnInvalid, reason.ConnTableFull, reason.ConnRateLimited:
		default:
			t.Fatalf("unexpected reason %v", r)
		}
		checkTable(t, flt.shards[0].ct)
	})
}

// checkTable verifies the connection table's invariants: every used entry
// is findable by its key, on its state's list, and counted.
func checkTable(t *testing.T, ct *connTable) {
	t.Helper()
	onList := 0
	for s := TCPSynSent; s < NumStates; s++ {
		n := 0
		for i := ct.head[s]; i >= 0; i = ct.entries[i].next {
			if ct.entries[i].state != s {
				t.Fatalf("entry %d on list %v has state %v", i, s, ct.entries[i].state)
			}
			if j := ct.lookup(&ct.entries[i].key, hashKey(ct.seed, &ct.entries[i].key)); j != i {
				t.Fatalf("entry %d not found by its key (got %d)", i, j)
			}
			n++
		}
		if int64(n) != ct.count[s].Load() {
			t.Fatalf("state %v: %d on list, count %d", s, n, ct.count[s].Load())
		}
		onList += n
	}
	if onList != ct.used {
		t.Fatalf("%d entries on lists, %d used", onList, ct.used)
	}
	slots := 0
	for _, s := range ct.index.slots {
		if s != 0 {
			slots++
		}
	}
	if slots != ct.used {
		t.Fatalf("%d index slots, %d used", slots, ct.used)
	}
}
