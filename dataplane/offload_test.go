package dataplane

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Offsets in the test's untagged IPv4 frames.
const (
	testL4Off   = 14 + 20
	tcpCsumOff  = 16
	aggMSS      = 1448
	aggPayload  = 3*aggMSS - 100 // three segments, the last one short
	aggSegments = 3
)

// tcpAggregate is a GRO aggregate as the kernel hands it over: an IPv4
// TCP frame of payload bytes whose checksum field holds only the pseudo
// header (it is left to offload), with its virtio_net_hdr.
func tcpAggregate(src, dst string, payload int) ([]byte, afpacket.VNetHdr) {
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	f := tcpFrame4(s, d, 40000, 443, tcpACK, 1000, 1, bytes.Repeat([]byte{0xab}, payload))
	seg := f[testL4Off:]
	binary.BigEndian.PutUint16(seg[tcpCsumOff:], uint16(packet.PseudoHeaderSum(s, d, packet.ProtoTCP, len(seg))))
	return f, afpacket.VNetHdr{Flags: afpacket.VNetNeedsCsum, GSOType: afpacket.VNetGSOTCPv4, GSOSize: aggMSS,
		HdrLen: testL4Off + 20, CsumStart: testL4Off, CsumOffset: tcpCsumOff}
}

// TestAggregateForwardedWithItsHeader: an aggregate is judged once and
// leaves byte for byte with its header (so the kernel segments it and
// completes the checksum), and the counters count its segments.
func TestAggregateForwardedWithItsHeader(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	agg, h := tcpAggregate("198.51.100.7", "192.0.2.10", aggPayload)
	up.InjectVNet(h, agg)
	pumpAll(e)
	got, hdrs := rack.SentVNet()
	sameFrames(t, "uplink→rack", got, [][]byte{agg})
	if hdrs[0] != h {
		t.Fatalf("sent with header %+v, want %+v", hdrs[0], h)
	}
	u, r := e.Counters().Ports[Uplink], e.Counters().Ports[Rack]
	if u.RxFrames != aggSegments || u.Forwarded != aggSegments || r.TxFrames != aggSegments {
		t.Fatalf("counted rx %d forwarded %d tx %d, want %d segments each", u.RxFrames, u.Forwarded, r.TxFrames, aggSegments)
	}
}

// TestOffloadInvalidDropped: a header that disagrees with the frame (here
// TCP over IPv6 segmentation on an IPv4 frame) is an L3 drop, counted and
// nothing sent.
func TestOffloadInvalidDropped(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	agg, h := tcpAggregate("198.51.100.7", "192.0.2.10", aggPayload)
	h.GSOType = afpacket.VNetGSOTCPv6
	up.InjectVNet(h, agg)
	pumpAll(e)
	if sent := rack.Sent(); len(sent) != 0 {
		t.Fatalf("%d frames sent", len(sent))
	}
	if n := e.Counters().Ports[Uplink].DropsByReason[reason.OffloadInvalid]; n != 1 {
		t.Fatalf("%d offload_invalid drops, want 1", n)
	}
}

// TestDroppedAggregateChargedPerSegment: a dropped aggregate counts, and
// is charged toward quarantine, as the segments it holds, so a source is
// quarantined after the same traffic whether or not it was merged.
func TestDroppedAggregateChargedPerSegment(t *testing.T) {
	pol := config.Default()
	pol.QuarantineThreshold = 2*aggSegments - 1
	pol.QuarantineWindow = time.Hour
	rs, err := rules.Parse("set default block\n")
	if err != nil {
		t.Fatal(err)
	}
	e, up, rack := testEngine(t, &pol, rs)
	agg, h := tcpAggregate("198.51.100.66", "192.0.2.10", aggPayload)
	up.InjectVNet(h, agg)
	up.InjectVNet(h, agg)
	pumpAll(e)
	if sent := rack.Sent(); len(sent) != 0 {
		t.Fatalf("%d frames sent past the block", len(sent))
	}
	u := e.Counters().Ports[Uplink]
	if u.DropsByReason[reason.FilterBlocked] != 2*aggSegments || u.RxFrames != 2*aggSegments {
		t.Fatalf("%d filter_blocked drops of %d received, want %d", u.DropsByReason[reason.FilterBlocked], u.RxFrames, 2*aggSegments)
	}
	k, _ := source.Parse("198.51.100.66")
	st, _, _ := e.Quarantine().Source(k, time.Now())
	if st.Counts[reason.FilterBlocked] != 2*aggSegments {
		t.Fatalf("source charged %d, want %d", st.Counts[reason.FilterBlocked], 2*aggSegments)
	}
	if q := e.Quarantine().Quarantined(time.Now()); len(q) != 1 {
		t.Fatalf("%d sources quarantined after %d segments with threshold %d", len(q), 2*aggSegments, pol.QuarantineThreshold)
	}
}

// TestPartialChecksumKeptAndNotVerified: under verify_checksums: all a
// frame whose checksum is left to offload passes with the checksum still
// partial (completing it here and sending it with VNetNeedsCsum would
// make the NIC sum it twice), while a frame with a full, wrong checksum is
// still dropped even when the port marked it verified.
func TestPartialChecksumKeptAndNotVerified(t *testing.T) {
	pol := config.Default()
	pol.VerifyChecksums = config.VerifyAll
	e, up, rack := testEngine(t, &pol, nil)
	f, h := tcpAggregate("198.51.100.7", "192.0.2.10", 500)
	h.GSOType, h.GSOSize = afpacket.VNetGSONone, 0
	up.InjectVNet(h, f)
	bad := tcp4Frame("198.51.100.7", "192.0.2.10", 40001, 443, tcpACK)
	bad[testL4Off+tcpCsumOff] ^= 0xff
	up.InjectVNet(afpacket.VNetHdr{Flags: afpacket.VNetDataValid}, bad)
	pumpAll(e)
	got, hdrs := rack.SentVNet()
	sameFrames(t, "uplink→rack", got, [][]byte{f})
	if hdrs[0] != h {
		t.Fatalf("sent with header %+v, want %+v", hdrs[0], h)
	}
	if n := e.Counters().Ports[Uplink].DropsByReason[reason.ChecksumInvalid]; n != 1 {
		t.Fatalf("%d checksum_invalid drops, want 1", n)
	}
}

// TestRewritesReachEverySegment: the T3 rewrites land in the aggregate's
// headers, which every segment repeats; the MSS clamp of a SYN whose
// checksum is partial leaves the checksum for offload to complete over
// the clamped option.
func TestRewritesReachEverySegment(t *testing.T) {
	pol := config.Default()
	pol.MinTTL, pol.ClearDF, pol.RandomIPID, pol.MaxMSS = 100, true, true, 1200
	e, up, rack := testEngine(t, &pol, nil)
	agg, h := tcpAggregate("198.51.100.7", "192.0.2.10", aggPayload)
	agg[14+6] |= 0x40 // DF, as TCP sets it
	packet.SetIPv4HeaderChecksum(agg[14:34])
	up.InjectVNet(h, agg)

	s, d := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.10")
	syn := tcpFrame4(s, d, 40002, 443, tcpSYN, 7000, 0, nil)
	syn = append(syn, 2, 4, 0x05, 0xb4) // MSS 1460
	syn[14+3] += 4
	syn[testL4Off+12] = 6 << 4
	packet.SetIPv4HeaderChecksum(syn[14:34])
	binary.BigEndian.PutUint16(syn[testL4Off+tcpCsumOff:], uint16(packet.PseudoHeaderSum(s, d, packet.ProtoTCP, len(syn)-testL4Off)))
	csum := afpacket.VNetHdr{Flags: afpacket.VNetNeedsCsum, CsumStart: testL4Off, CsumOffset: tcpCsumOff}
	up.InjectVNet(csum, syn)
	pumpAll(e)

	got, hdrs := rack.SentVNet()
	if len(got) != 2 || hdrs[0] != h || hdrs[1] != csum {
		t.Fatalf("sent %d frames with headers %+v", len(got), hdrs)
	}
	ip := got[0][14:34]
	if ip[8] != 100 || ip[6]&0x40 != 0 || !packet.VerifyIPv4HeaderChecksum(ip) {
		t.Fatalf("aggregate header after the rewrites: ttl %d, flags %#x, checksum ok %v", ip[8], ip[6], packet.VerifyIPv4HeaderChecksum(ip))
	}
	out := got[1]
	if mss := binary.BigEndian.Uint16(out[testL4Off+22:]); mss != 1200 {
		t.Fatalf("SYN left with MSS %d", mss)
	}
	packet.FinishOffloadChecksum(out, testL4Off, tcpCsumOff) // what the NIC does
	if !packet.VerifyTransportChecksum(s, d, packet.ProtoTCP, out[testL4Off:]) {
		t.Fatal("the SYN's checksum, completed as offload does, is wrong")
	}
}

// TestForwardAggregateAllocatesNothing: the offload path (header check,
// segment count, transmit with the header) allocates nothing per frame.
func TestForwardAggregateAllocatesNothing(t *testing.T) {
	e, up, rack := testEngine(t, nil, nil)
	agg, h := tcpAggregate("198.51.100.7", "192.0.2.10", aggPayload)
	run := func() {
		up.InjectVNet(h, agg)
		e.workers[0].pump(Uplink)
		rack.Discard()
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Fatalf("%v allocations per forwarded aggregate, want 0", n)
	}
	if f := e.Counters().Ports[Uplink].Forwarded; f < 1000*aggSegments {
		t.Fatalf("only %d segments forwarded", f)
	}
}
