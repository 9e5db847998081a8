package afpacket

import (
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzReceiveBlock walks arbitrary bytes as a ring block: whatever the
// headers say (offsets, lengths, VLAN flags), receive must neither panic
// nor hand out a frame reaching outside the block or the scratch buffer.
func FuzzReceiveBlock(f *testing.F) {
	f.Fuzz(func(t *testing.T, blk []byte) {
		const size = 4096
		r := memRing(1, size)
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
