package afpacket

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// putVNetBlock is putBlock for a PACKET_VNET_HDR socket: each frame gets
// its header in the 10 bytes in front of it, where the kernel writes it.
func putVNetBlock(r *rxRing, i int, pkts []testPkt, hdrs []VNetHdr) {
	putBlock(r, i, pkts)
	blk := r.block(i)
	off := int(ne.Uint32(blk[blockFirstOff:]))
	for n := range pkts {
		h := blk[off:]
		mac := int(ne.Uint16(h[hdrMacOff:]))
		hdrs[n].Put(h[mac-VNetHdrLen : mac])
		off += int(ne.Uint32(h[hdrNextOff:]))
	}
}

func TestVNetHdrRoundTrip(t *testing.T) {
	h := VNetHdr{Flags: VNetNeedsCsum, GSOType: VNetGSOTCPv6 | VNetGSOECN, HdrLen: 86, GSOSize: 1428, CsumStart: 54, CsumOffset: 16}
	var b [VNetHdrLen]byte
	h.Put(b[:])
	got, err := ParseVNetHdr(b[:])
	if err != nil || got != h {
		t.Fatalf("ParseVNetHdr(Put(%+v)) = %+v, %v", h, got, err)
	}
	// The kernel's layout: u8 flags, u8 gso_type, then four u16 in host order.
	want := []byte{1, 0x84}
	for _, v := range []uint16{86, 1428, 54, 16} {
		want = ne.AppendUint16(want, v)
	}
	if !bytes.Equal(b[:], want) {
		t.Fatalf("Put wrote %x, want %x", b, want)
	}
	if _, err := ParseVNetHdr(b[:9]); err == nil {
		t.Fatal("9 bytes parsed as a header")
	}
}

// TestReceiveHandsOutTheVNetHdr: with VNetHdr each frame comes with the
// header in front of it, unchanged by the VLAN tag put back (whose
// offsets then count the tag), and a frame with no room for a header in
// front of it is refused rather than read with a header made of ring
// bytes.
func TestReceiveHandsOutTheVNetHdr(t *testing.T) {
	r := memRing(1, 1<<17)
	r.vnet = true
	agg := frameBytes(60000, 1)
	plain := frameBytes(300, 2)
	gso := VNetHdr{Flags: VNetNeedsCsum, GSOType: VNetGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	tagged := gso
	tagged.CsumStart, tagged.HdrLen = 38, 70
	putVNetBlock(r, 0, []testPkt{
		{data: agg},
		{data: plain},
		{data: agg, vlan: 7},
		{data: plain, mac: tpacket3HdrLen + 4}, // no room for a header
		{data: plain, vlan: 9},
	}, []VNetHdr{gso, {Flags: VNetDataValid}, gso, gso, {}})
	var got []VNetHdr
	var data [][]byte
	c := r.receive(func(f *Frame) {
		got = append(got, f.VNet)
		data = append(data, bytes.Clone(f.Data))
	}, 100)
	want := []VNetHdr{gso, {Flags: VNetDataValid}, tagged, {}}
	if len(got) != len(want) || c.truncated != 1 {
		t.Fatalf("got %d frames (%+v), %d truncated", len(got), got, c.truncated)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("frame %d: header %+v, want %+v", i, got[i], want[i])
		}
	}
	if !bytes.Equal(data[0], agg) || !bytes.Equal(data[2], withTag(agg, 0x8100, 7)) || !bytes.Equal(data[3], withTag(plain, 0x8100, 9)) {
		t.Fatal("frame bytes changed")
	}
}

// memTXRing is a TX ring in ordinary memory: queueing writes the slots as
// the kernel reads them, without a socket.
func memTXRing(frames, frameSize int, vnet bool) *txRing {
	return &txRing{fd: -1, mem: make([]byte, frames*frameSize), frameSize: frameSize, frames: frames,
		blockSize: frameSize, perBlock: 1, vnet: vnet}
}

// TestTXSlotCarriesTheVNetHdr: on a PACKET_VNET_HDR ring the slot's data
// is the header, then the frame, and its length counts both; a plain
// Send gets a header that asks for nothing; what does not fit a slot is
// refused, not cut.
func TestTXSlotCarriesTheVNetHdr(t *testing.T) {
	tr := memTXRing(16, vnetTXFrameSize, true)
	h := VNetHdr{Flags: VNetNeedsCsum, GSOType: VNetGSOTCPv4, HdrLen: 66, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}
	agg := frameBytes(vnetMaxFrame, 3)
	plain := frameBytes(100, 4)
	if !tr.queueVNet(h, agg) || !tr.queue(plain) {
		t.Fatal("queueing refused")
	}
	for i, want := range []struct {
		h     VNetHdr
		frame []byte
	}{{h, agg}, {VNetHdr{}, plain}} {
		s := tr.slot(i)
		n := int(ne.Uint32(s[hdrLenOff:]))
		if n != VNetHdrLen+len(want.frame) || int(ne.Uint32(s[hdrSnaplenOff:])) != n {
			t.Fatalf("slot %d length %d, want %d", i, n, VNetHdrLen+len(want.frame))
		}
		got, _ := ParseVNetHdr(s[tpacket3HdrLen:])
		if got != want.h || !bytes.Equal(s[tpacket3HdrLen+VNetHdrLen:tpacket3HdrLen+n], want.frame) {
			t.Fatalf("slot %d: header %+v, frame differs: %v", i, got, !bytes.Equal(s[tpacket3HdrLen+VNetHdrLen:tpacket3HdrLen+n], want.frame))
		}
		if loadStatus(s, hdrStatusOff) != unix.TP_STATUS_SEND_REQUEST {
			t.Fatalf("slot %d not handed to the kernel", i)
		}
	}
	if tr.queueVNet(h, frameBytes(vnetTXFrameSize-tpacket3HdrLen-VNetHdrLen+1, 5)) {
		t.Fatal("a frame larger than the slot was queued")
	}
	plainRing := memTXRing(16, 2048, false)
	if !plainRing.queue(plain) || int(ne.Uint32(plainRing.slot(0)[hdrLenOff:])) != len(plain) ||
		!bytes.Equal(plainRing.slot(0)[tpacket3HdrLen:tpacket3HdrLen+len(plain)], plain) {
		t.Fatal("a ring without VNetHdr does not carry the plain frame")
	}
}

func TestVNetPathAllocatesNothing(t *testing.T) {
	r := memRing(2, 1<<17)
	r.vnet = true
	pkts := []testPkt{{data: frameBytes(60000, 1)}, {data: frameBytes(1400, 2), vlan: 5}}
	hdrs := []VNetHdr{{Flags: VNetNeedsCsum, GSOType: VNetGSOTCPv4, GSOSize: 1448, CsumStart: 34, CsumOffset: 16}, {}}
	fn := func(*Frame) {}
	if n := testing.AllocsPerRun(100, func() {
		putVNetBlock(r, r.cur, pkts, hdrs)
		r.receive(fn, 100)
	}); n != 0 {
		t.Fatalf("receive: %v allocations per block", n)
	}
	tr := memTXRing(16, vnetTXFrameSize, true)
	frame := frameBytes(60000, 1)
	if n := testing.AllocsPerRun(100, func() {
		storeStatus(tr.slot(tr.head), hdrStatusOff, unix.TP_STATUS_AVAILABLE)
		if !tr.queueVNet(hdrs[0], frame) {
			panic("slot refused")
		}
		tr.queued = 0
	}); n != 0 {
		t.Fatalf("queueVNet: %v allocations per frame", n)
	}
}

func TestVNetOptions(t *testing.T) {
	o, err := Options{VNetHdr: true, TXFrameSize: 2048, TXFrames: 256}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if o.BlockSize != vnetBlockSize || o.NumBlocks*o.BlockSize != DefaultNumBlocks*DefaultBlockSize {
		t.Errorf("RX ring %d × %d", o.NumBlocks, o.BlockSize)
	}
	if o.TXFrameSize != vnetTXFrameSize || o.TXFrames != vnetTXFrames {
		t.Errorf("TX ring %d × %d", o.TXFrames, o.TXFrameSize)
	}
	if vnetTXFrameSize-tpacket3HdrLen-VNetHdrLen < vnetMaxFrame {
		t.Errorf("TX slot of %d bytes cannot hold a %d-byte frame", vnetTXFrameSize, vnetMaxFrame)
	}
	for _, bad := range []Options{
		{VNetHdr: true, BlockSize: 64 << 10},
		{VNetHdr: true, TXMode: TXSendmmsg},
		{TXFrameSize: vnetTXFrameSize}, // a slot that big only with VNetHdr
	} {
		if _, err := bad.withDefaults(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// TestTXSlotsFollowTheKernelsBlockLayout: when the slot size does not
// divide the block (VNetHdr: 15 slots of about 64 KiB to a 1 MiB block),
// the kernel starts each block's first slot at the block's start
// (packet_lookup_frame); a slot taken at i × slot size would be one the
// kernel never reads.
func TestTXSlotsFollowTheKernelsBlockLayout(t *testing.T) {
	per := vnetTXBlockSize / vnetTXFrameSize
	tr := &txRing{fd: -1, mem: make([]byte, 2*vnetTXBlockSize), frameSize: vnetTXFrameSize, frames: 2 * per,
		blockSize: vnetTXBlockSize, perBlock: per, vnet: true}
	base := uintptr(unsafe.Pointer(&tr.mem[0]))
	for i := range tr.frames {
		s := tr.slot(i)
		off := int(uintptr(unsafe.Pointer(&s[0])) - base)
		if off/vnetTXBlockSize != (off+len(s)-1)/vnetTXBlockSize {
			t.Fatalf("slot %d at %d straddles a block", i, off)
		}
		if i == per && off != vnetTXBlockSize {
			t.Fatalf("slot %d, the second block's first, at %d, want %d", i, off, vnetTXBlockSize)
		}
	}
}
