package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// These tests build ring blocks in ordinary memory exactly as the kernel
// lays them out, so the ring walking and VLAN handling run without root.

const testMac = 82 // where the kernel puts a frame: TPACKET_ALIGN(68+16) - 14

type testPkt struct {
	data   []byte
	vlan   uint16 // 0: none
	tpid   uint16 // 0: not given (802.1Q assumed)
	status uint32
	mac    int // 0: testMac
	cut    int // bytes missing from the snapshot
}

// putBlock writes pkts into block i of r in the kernel's TPACKET_V3 layout
// and hands it to user space.
func putBlock(r *rxRing, i int, pkts []testPkt) {
	blk := r.block(i)
	clear(blk)
	off := 48 // the first frame follows the block descriptor, aligned
	binary.NativeEndian.PutUint32(blk[blockNumPkts:], uint32(len(pkts)))
	binary.NativeEndian.PutUint32(blk[blockFirstOff:], uint32(off))
	for n, p := range pkts {
		h := blk[off:]
		mac := p.mac
		if mac == 0 {
			mac = testMac
		}
		snap := len(p.data) - p.cut
		copy(h[mac:], p.data[:snap])
		binary.NativeEndian.PutUint32(h[hdrSnaplenOff:], uint32(snap))
		binary.NativeEndian.PutUint32(h[hdrLenOff:], uint32(len(p.data)))
		binary.NativeEndian.PutUint16(h[hdrMacOff:], uint16(mac))
		status := p.status | unix.TP_STATUS_USER
		if p.vlan != 0 {
			status |= unix.TP_STATUS_VLAN_VALID
			binary.NativeEndian.PutUint32(h[hdrVLANTCI:], uint32(p.vlan))
			if p.tpid != 0 {
				status |= unix.TP_STATUS_VLAN_TPID_VALID
				binary.NativeEndian.PutUint16(h[hdrVLANTPID:], p.tpid)
			}
		}
		binary.NativeEndian.PutUint32(h[hdrStatusOff:], status)
		next := (mac + snap + 15) &^ 15
		if n == len(pkts)-1 {
			next = 0
		}
		binary.NativeEndian.PutUint32(h[hdrNextOff:], uint32(next))
		off += next
	}
	storeStatus(blk, blockStatusOff, unix.TP_STATUS_USER)
}

func memRing(blocks, size int) *rxRing {
	return &rxRing{fd: -1, mem: make([]byte, blocks*size), blockSize: size, numBlocks: blocks, scratch: make([]byte, size+8)}
}

func frameBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	return b
}

// withTag is what the wire carried: the frame with a tag after the MACs.
func withTag(f []byte, tpid, tci uint16) []byte {
	out := append([]byte(nil), f[:12]...)
	out = binary.BigEndian.AppendUint16(out, tpid)
	out = binary.BigEndian.AppendUint16(out, tci)
	return append(out, f[12:]...)
}

func drain(r *rxRing, max int) (got [][]byte, pending []bool, c rxCounts) {
	c = r.receive(func(f *Frame) {
		got = append(got, bytes.Clone(f.Data))
		pending = append(pending, f.ChecksumPending)
	}, max)
	return got, pending, c
}

func TestReceiveWalksBlocksAndGivesThemBack(t *testing.T) {
	r := memRing(4, 4096)
	a, b, c := frameBytes(60, 1), frameBytes(1000, 2), frameBytes(300, 3)
	putBlock(r, 0, []testPkt{{data: a}, {data: b}})
	putBlock(r, 1, []testPkt{{data: c, status: unix.TP_STATUS_CSUMNOTREADY}})
	got, pending, cnt := drain(r, 100)
	if len(got) != 3 || !bytes.Equal(got[0], a) || !bytes.Equal(got[1], b) || !bytes.Equal(got[2], c) {
		t.Fatalf("got %d frames", len(got))
	}
	if pending[0] || pending[1] || !pending[2] {
		t.Fatalf("checksum-pending flags %v", pending)
	}
	if cnt.frames != 3 || cnt.bytes != 1360 {
		t.Fatalf("counts %+v", cnt)
	}
	for i := range 2 {
		if st := loadStatus(r.block(i), blockStatusOff); st != unix.TP_STATUS_KERNEL {
			t.Fatalf("block %d not given back: status %#x", i, st)
		}
	}
	if r.cur != 2 || r.ready() {
		t.Fatalf("ring at block %d, ready %v", r.cur, r.ready())
	}
}

func TestReceiveBudgetResumesInsideBlock(t *testing.T) {
	r := memRing(2, 8192)
	var want [][]byte
	var pkts []testPkt
	for i := range 5 {
		f := frameBytes(100+i, byte(i))
		want = append(want, f)
		pkts = append(pkts, testPkt{data: f})
	}
	putBlock(r, 0, pkts)
	var got [][]byte
	for _, budget := range []int{2, 2, 2} {
		g, _, _ := drain(r, budget)
		got = append(got, g...)
		if len(got) < 5 && loadStatus(r.block(0), blockStatusOff) != unix.TP_STATUS_USER {
			t.Fatal("block given back before its last frame")
		}
	}
	if len(got) != 5 {
		t.Fatalf("got %d frames, want 5", len(got))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if loadStatus(r.block(0), blockStatusOff) != unix.TP_STATUS_KERNEL {
		t.Fatal("block not given back after its last frame")
	}
}

func TestVLANTagReinserted(t *testing.T) {
	inner := frameBytes(80, 9)
	r := memRing(1, 4096)
	putBlock(r, 0, []testPkt{
		{data: inner, vlan: 0x2064},               // 802.1Q, TPID not reported
		{data: inner, vlan: 0x0007, tpid: 0x88a8}, // 802.1ad outer tag
		{data: inner, vlan: 0x0fff, mac: 48 + 2},  // no headroom: rebuilt in scratch
		{data: inner, vlan: 0x0001, tpid: 0x8100}, // TPID given
		{data: inner},                            // untagged stays as is
		{data: inner, vlan: 0x0005, mac: 48 + 3}, // scratch again, reused
	})
	got, _, cnt := drain(r, 100)
	want := [][]byte{
		withTag(inner, 0x8100, 0x2064),
		withTag(inner, 0x88a8, 0x0007),
		withTag(inner, 0x8100, 0x0fff),
		withTag(inner, 0x8100, 0x0001),
		inner,
		withTag(inner, 0x8100, 0x0005),
	}
	if len(got) != len(want) || cnt.truncated != 0 {
		t.Fatalf("got %d frames, %d truncated", len(got), cnt.truncated)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d:\n got %x\nwant %x", i, got[i], want[i])
		}
	}
}

func TestTruncatedFramesSkipped(t *testing.T) {
	r := memRing(1, 4096)
	ok := frameBytes(64, 1)
	putBlock(r, 0, []testPkt{{data: frameBytes(500, 2), cut: 100}, {data: ok}})
	got, _, cnt := drain(r, 10)
	if len(got) != 1 || !bytes.Equal(got[0], ok) || cnt.truncated != 1 {
		t.Fatalf("got %d frames, %d truncated", len(got), cnt.truncated)
	}
}

func TestReceiveAllocatesNothing(t *testing.T) {
	r := memRing(2, 4096)
	pkts := []testPkt{{data: frameBytes(60, 1), vlan: 5}, {data: frameBytes(1400, 2)}}
	fn := func(*Frame) {}
	if n := testing.AllocsPerRun(100, func() {
		putBlock(r, r.cur, pkts)
		r.receive(fn, 100)
	}); n != 0 {
		t.Fatalf("%v allocations per block", n)
	}
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []Options{
		{BlockSize: 1000},
		{NumBlocks: 1},
		{BlockTimeout: 1},
		{TXFrameSize: 100},
		{TXFrames: 3},
		{TXMode: 9},
	} {
		if _, err := o.withDefaults(); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	o, err := Options{}.withDefaults()
	if err != nil || o.BlockSize != DefaultBlockSize || o.TXFrames != DefaultTXFrames {
		t.Fatalf("defaults %+v, %v", o, err)
	}
}
