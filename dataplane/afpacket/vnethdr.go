package afpacket

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// VNetHdr is struct virtio_net_hdr, which a socket with PACKET_VNET_HDR
// (Options.VNetHdr) reads in front of every received frame and writes in
// front of every transmitted one. It carries the offload state the kernel
// keeps beside a frame: whether it is a GRO aggregate or a GSO frame to be
// cut into segments of GSOSize payload bytes, and whether its transport
// checksum is still to be completed from CsumStart.
//
// Offsets count from the first byte of the Ethernet frame as Frame.Data
// holds it, VLAN tag included. The fields and their order are those of
// packet.VNetHdr, so the engine converts one into the other with a plain
// conversion; package packet judges the header against the frame's own
// headers.
type VNetHdr struct {
	Flags      uint8  // VNetNeedsCsum, VNetDataValid
	GSOType    uint8  // VNetGSONone, VNetGSOTCPv4, …, optionally | VNetGSOECN
	HdrLen     uint16 // length of the headers every segment repeats (a hint on receive)
	GSOSize    uint16 // payload bytes per segment
	CsumStart  uint16 // where the checksummed part starts
	CsumOffset uint16 // where the checksum field sits, counted from CsumStart
}

// VNetHdrLen is sizeof(struct virtio_net_hdr), the bytes in front of each
// frame on a PACKET_VNET_HDR socket.
const VNetHdrLen = 10

// Flags and GSO types of linux/virtio_net.h.
const (
	VNetNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM: checksum from CsumStart still to be completed
	VNetDataValid = 2 // VIRTIO_NET_HDR_F_DATA_VALID: the checksum was verified on receive

	VNetGSONone  = 0    // VIRTIO_NET_HDR_GSO_NONE
	VNetGSOTCPv4 = 1    // VIRTIO_NET_HDR_GSO_TCPV4
	VNetGSOUDP   = 3    // VIRTIO_NET_HDR_GSO_UDP: UDP fragmentation offload
	VNetGSOTCPv6 = 4    // VIRTIO_NET_HDR_GSO_TCPV6
	VNetGSOUDPL4 = 5    // VIRTIO_NET_HDR_GSO_UDP_L4: UDP segmentation
	VNetGSOECN   = 0x80 // VIRTIO_NET_HDR_GSO_ECN: the TCP flow has ECN set
)

// errVNetShort is ParseVNetHdr's one failure: the bytes cannot hold a header.
var errVNetShort = errors.New("afpacket: virtio_net_hdr needs 10 bytes")

// ParseVNetHdr reads a virtio_net_hdr from the start of b. The kernel
// writes it in the host's byte order (virtio's legacy, native-endian
// layout, which is what AF_PACKET uses). Only the length is checked here:
// whether the fields make sense for the frame behind them is
// packet.VNetHdr.Check's job.
func ParseVNetHdr(b []byte) (VNetHdr, error) {
	if len(b) < VNetHdrLen {
		return VNetHdr{}, errVNetShort
	}
	return VNetHdr{
		Flags:      b[0],
		GSOType:    b[1],
		HdrLen:     ne.Uint16(b[2:]),
		GSOSize:    ne.Uint16(b[4:]),
		CsumStart:  ne.Uint16(b[6:]),
		CsumOffset: ne.Uint16(b[8:]),
	}, nil
}

// Put writes h into the first VNetHdrLen bytes of b, which must hold them.
func (h VNetHdr) Put(b []byte) {
	_ = b[VNetHdrLen-1]
	b[0] = h.Flags
	b[1] = h.GSOType
	ne.PutUint16(b[2:], h.HdrLen)
	ne.PutUint16(b[4:], h.GSOSize)
	ne.PutUint16(b[6:], h.CsumStart)
	ne.PutUint16(b[8:], h.CsumOffset)
}

// shiftForTag moves the header's offsets past a 4-byte VLAN tag put back
// in front of the payload. Zero offsets mean "not given" and stay zero.
func (h *VNetHdr) shiftForTag() {
	if h.Flags&VNetNeedsCsum != 0 {
		h.CsumStart += 4
	}
	if h.HdrLen != 0 {
		h.HdrLen += 4
	}
}

// Sizes with Options.VNetHdr. One slot of either ring must hold the
// largest frame GRO builds and GSO takes by default (gro_max_size and
// gso_max_size are 64 KiB): an IP packet of 65,535 bytes, as IPv6 a fixed
// header more, behind an Ethernet header and two VLAN tags, plus the
// virtio_net_hdr and the ring's own slot header.
const (
	// vnetMaxFrame is the largest Ethernet frame a 64 KiB aggregate makes.
	vnetMaxFrame = 40 + 65535 + 14 + 8
	// vnetTXFrameSize is the TX slot: frame, virtio_net_hdr and
	// tpacket3_hdr, rounded up to the kernel's 16-byte alignment.
	vnetTXFrameSize = (tpacket3HdrLen + VNetHdrLen + vnetMaxFrame + 15) &^ 15
	// vnetTXFrames caps the TX slots: one slot now carries up to 64 KiB,
	// so 64 hold a whole batch (the engine's 64 frames) of aggregates.
	// Rounded up to whole blocks of 15 that is 75 slots in 5 MiB, where
	// the wire profile's 1024 slots of 2 KiB take 2 MiB.
	vnetTXFrames = 64
	// vnetBlockSize is the smallest RX block that holds an aggregate
	// behind the block descriptor and the frame's headroom: the next
	// power of two above 64 KiB.
	vnetBlockSize = 128 << 10
	// vnetNumBlocks keeps the RX ring at the wire profile's 8 MiB.
	vnetNumBlocks = DefaultNumBlocks * DefaultBlockSize / vnetBlockSize
	// vnetTXBlockSize packs vnetTXFrameSize slots into 1 MiB blocks, 15
	// to a block, instead of a 128 KiB block per slot.
	vnetTXBlockSize = 1 << 20
)

// setVNetHdr turns PACKET_VNET_HDR on for fd. It must come before the
// socket's ring is set up: the kernel refuses it once a ring exists.
func setVNetHdr(fd int) error {
	if err := setInt(fd, unix.PACKET_VNET_HDR, 1); err != nil {
		return fmt.Errorf("afpacket: PACKET_VNET_HDR: %w", err)
	}
	return nil
}
