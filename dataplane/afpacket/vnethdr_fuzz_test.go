package afpacket

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzParseVNetHdr: any 10 bytes parse, and writing the header back gives
// the same bytes; fewer than 10 bytes are an error.
func FuzzParseVNetHdr(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseVNetHdr(b)
		if len(b) < VNetHdrLen {
			if err == nil {
				t.Fatalf("%d bytes parsed", len(b))
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		var out [VNetHdrLen]byte
		h.Put(out[:])
		if !bytes.Equal(out[:], b[:VNetHdrLen]) {
			t.Fatalf("round trip %x -> %+v -> %x", b[:VNetHdrLen], h, out)
		}
	})
}

// FuzzReceiveBlockVNet is FuzzReceiveBlock on a PACKET_VNET_HDR ring,
// where each frame's header is read from in front of it.
func FuzzReceiveBlockVNet(f *testing.F) {
	f.Fuzz(func(t *testing.T, blk []byte) {
		const size = 4096
		r := memRing(1, size)
		r.vnet = true
		copy(r.mem, blk)
		storeStatus(r.mem, blockStatusOff, unix.TP_STATUS_USER)
		r.receive(func(fr *Frame) {
			if len(fr.Data) > size+4 {
				t.Fatalf("frame of %d bytes from a %d-byte block", len(fr.Data), size)
			}
		}, 1<<20)
		if loadStatus(r.mem, blockStatusOff) != unix.TP_STATUS_KERNEL {
			t.Fatal("block not given back")
		}
	})
}
