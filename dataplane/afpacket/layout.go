package afpacket

import (
	"encoding/binary"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Offsets into the kernel's ring structures (linux/if_packet.h). They are
// fixed by the ABI; reading them by offset keeps the hot path free of
// pointer casts to Go structs that the kernel writes concurrently.
const (
	// struct tpacket_block_desc + tpacket_hdr_v1
	blockStatusOff = 8
	blockNumPkts   = 12
	blockFirstOff  = 16

	// struct tpacket3_hdr
	hdrNextOff    = 0
	hdrSecOff     = 4
	hdrNsecOff    = 8
	hdrSnaplenOff = 12
	hdrLenOff     = 16
	hdrStatusOff  = 20
	hdrMacOff     = 24
	hdrVLANTCI    = 32
	hdrVLANTPID   = 36

	// tpacket3HdrLen is sizeof(struct tpacket3_hdr). On TX the frame data
	// starts right after it (TPACKET3_HDRLEN minus the sockaddr_ll); on RX
	// the bytes from here to tp_mac are headroom the box may write into.
	tpacket3HdrLen = unix.SizeofTpacket3Hdr
)

// ne is the byte order of the ring headers: the host's.
var ne = binary.NativeEndian

// loadStatus reads a status word the kernel hands over, with acquire
// semantics so the frame bytes written before it are visible.
func loadStatus(b []byte, off int) uint32 {
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[off])))
}

// storeStatus hands a status word back to the kernel, with release
// semantics so every byte written before it is visible to the kernel first.
func storeStatus(b []byte, off int, v uint32) {
	atomic.StoreUint32((*uint32)(unsafe.Pointer(&b[off])), v)
}
