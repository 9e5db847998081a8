package afpacket

import (
	"fmt"
	"log/slog"
	"os"
	"time"
)

// TXMode selects how queued frames reach the kernel.
type TXMode uint8

const (
	// TXRing queues frames in a PACKET_TX_RING and flushes them with one
	// sendto; the kernel builds each skb around the ring pages, so a NIC
	// sends straight from the ring. (A veth peer copies the pages out
	// before delivering, which makes the two modes cost about the same
	// there.) The default.
	TXRing TXMode = iota
	// TXSendmmsg copies frames into a user-space batch and flushes them with
	// one sendmmsg; the kernel copies each frame again into a fresh skb.
	TXSendmmsg
)

func (m TXMode) String() string {
	if m == TXSendmmsg {
		return "sendmmsg"
	}
	return "ring"
}

// Options size the rings. The zero value of every field means its default.
type Options struct {
	// BlockSize is the size of one RX ring block in bytes, a multiple of the
	// page size. The kernel hands a block to user space when it is full or
	// BlockTimeout after its first frame.
	BlockSize int
	// NumBlocks is the number of RX blocks; the ring holds BlockSize×NumBlocks bytes.
	NumBlocks int
	// BlockTimeout bounds how long a frame may wait in a partly filled block
	// (millisecond granularity). Short keeps the added latency low.
	BlockTimeout time.Duration
	// TXFrameSize is the size of one TX ring slot including its 48-byte
	// header; it bounds the largest frame that can be sent. Open sizes it
	// from the interface's MTU when it is zero.
	TXFrameSize int
	// TXFrames is the number of TX slots.
	TXFrames int
	// TXMode picks the transmit mechanism.
	TXMode TXMode
	// Logger receives one line per link event; nil means slog's default.
	Logger *slog.Logger
	// VNetHdr turns on PACKET_VNET_HDR on both sockets, so the port can run
	// with the offloads its NIC offers: a received frame may be a GRO
	// aggregate of up to 64 KiB and a sent one a GSO frame the kernel or
	// NIC cuts into segments, each with its virtio_net_hdr (Frame.VNet,
	// Port.SendVNet). The rings are sized for such frames: RX blocks of at
	// least 128 KiB (64 of them by default), TX slots of about 66 KiB
	// (TXFrameSize is raised to that) and at most 64 TX slots.
	VNetHdr bool
}

// Defaults sized for a 1–10 Gbit/s port within the box's memory budget
// (POLICY.md F11: the dataplane may use its fragment budget plus 64 MiB): an
// 8 MiB RX ring (≈13 ms of full-size frames at 5 Gbit/s, ≈65 ms at 1 Gbit/s)
// in 64 KiB blocks, small enough that a block fills, and is handed over,
// well before its timeout once traffic is heavy; and a 2 MiB TX ring with
// room for 16 batches of 64 frames.
const (
	DefaultBlockSize    = 64 << 10
	DefaultNumBlocks    = 128
	DefaultBlockTimeout = time.Millisecond
	DefaultTXFrameSize  = 2048
	DefaultTXFrames     = 1024
)

func (o Options) withDefaults() (Options, error) {
	page := os.Getpagesize()
	if o.VNetHdr {
		o = o.vnetSizes()
	}
	if o.BlockSize == 0 {
		o.BlockSize = DefaultBlockSize
	}
	if o.NumBlocks == 0 {
		o.NumBlocks = DefaultNumBlocks
	}
	if o.BlockTimeout == 0 {
		o.BlockTimeout = DefaultBlockTimeout
	}
	if o.TXFrameSize == 0 {
		o.TXFrameSize = DefaultTXFrameSize
	}
	if o.TXFrames == 0 {
		o.TXFrames = DefaultTXFrames
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.BlockSize%page != 0 || o.BlockSize < page:
		return o, fmt.Errorf("afpacket: block size %d is not a multiple of the page size %d", o.BlockSize, page)
	case o.NumBlocks < 2:
		return o, fmt.Errorf("afpacket: need at least 2 RX blocks, got %d", o.NumBlocks)
	case o.BlockTimeout < time.Millisecond:
		return o, fmt.Errorf("afpacket: block timeout %v is under the kernel's 1 ms granularity", o.BlockTimeout)
	case o.VNetHdr && o.BlockSize < vnetBlockSize:
		return o, fmt.Errorf("afpacket: block size %d cannot hold a 64 KiB aggregate; VNetHdr needs at least %d", o.BlockSize, vnetBlockSize)
	case o.TXFrameSize%16 != 0 || o.TXFrameSize < 128 || o.TXFrameSize > o.maxTXFrameSize(page):
		return o, fmt.Errorf("afpacket: TX frame size %d must be a multiple of 16 between 128 and %d", o.TXFrameSize, o.maxTXFrameSize(page))
	case o.TXFrames < 16:
		return o, fmt.Errorf("afpacket: need at least 16 TX frames, got %d", o.TXFrames)
	case o.VNetHdr && o.TXMode != TXRing:
		return o, fmt.Errorf("afpacket: VNetHdr needs the TX ring, not %s", o.TXMode)
	case o.TXMode > TXSendmmsg:
		return o, fmt.Errorf("afpacket: unknown TX mode %d", o.TXMode)
	}
	return o, nil
}

// vnetSizes sizes the rings for 64 KiB frames (see Options.VNetHdr).
func (o Options) vnetSizes() Options {
	if o.BlockSize == 0 {
		o.BlockSize = vnetBlockSize
		if o.NumBlocks == 0 {
			o.NumBlocks = vnetNumBlocks
		}
	}
	o.TXFrameSize = max(o.TXFrameSize, vnetTXFrameSize)
	if o.TXFrames == 0 || o.TXFrames > vnetTXFrames {
		o.TXFrames = vnetTXFrames
	}
	return o
}

// maxTXFrameSize is the largest TX slot allowed: 16 pages, or with VNetHdr
// what a 64 KiB frame needs if that is more.
func (o Options) maxTXFrameSize(page int) int {
	if o.VNetHdr {
		return max(page*16, vnetTXFrameSize)
	}
	return page * 16
}
