package afpacket

import (
	"encoding/binary"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Frame is one received frame. It and its Data are only valid during the
// callback they are handed to: the ring block is given back afterwards.
type Frame struct {
	// Data is the frame as it was on the wire, VLAN tag included.
	Data []byte
	// Time is the kernel's receive timestamp.
	Time time.Time
	// ChecksumPending is TP_STATUS_CSUMNOTREADY: the transport checksum was
	// left for offload and must be filled in before the frame leaves.
	ChecksumPending bool
	// Cut is set when the port's socket filter kept only the first bytes
	// of the frame (see Port.SetFilter): Data is that part alone, and the
	// frame must never be forwarded.
	Cut bool
	// VNet is the frame's virtio_net_hdr on a port opened with
	// Options.VNetHdr (zero otherwise): a GSOType other than VNetGSONone
	// makes Data a GRO aggregate of many segments, and VNetNeedsCsum says
	// the transport checksum is partial. CsumStart and HdrLen count the
	// VLAN tag put back in front of the payload.
	VNet VNetHdr
}

// rxRing is the receive half of a Port: one AF_PACKET socket with a
// TPACKET_V3 ring. Only the receiving goroutine touches it.
type rxRing struct {
	fd        int
	ifindex   int
	mem       []byte
	blockSize int
	numBlocks int
	cur       int // block being read
	left      int // frames of block cur not handed out yet
	off       int // offset in block cur of the next frame; 0 before the block is started

	pfd     [1]unix.PollFd
	timeout unix.Timespec

	frame   Frame
	scratch []byte // for the rare frame with no headroom for its VLAN tag

	filterGen uint64 // the Port filter generation attached to this socket
	cut       int    // the snap length of frames the attached filter cuts; 0 for none

	vnet bool // PACKET_VNET_HDR: a virtio_net_hdr precedes each frame
}

func openRX(ifindex int, o Options) (*rxRing, error) {
	fd, err := packetSocket()
	if err != nil {
		return nil, fmt.Errorf("afpacket: rx socket: %w", err)
	}
	r := &rxRing{fd: fd, ifindex: ifindex, blockSize: o.BlockSize, numBlocks: o.NumBlocks,
		scratch: make([]byte, o.BlockSize+8), vnet: o.VNetHdr}
	if err := r.setup(o); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

func (r *rxRing) setup(o Options) error {
	if err := setInt(r.fd, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fmt.Errorf("afpacket: TPACKET_V3: %w", err)
	}
	// The box forwards, it never reads back what it (or anyone on this
	// host) transmitted on the port.
	if err := setInt(r.fd, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fmt.Errorf("afpacket: PACKET_IGNORE_OUTGOING: %w", err)
	}
	if o.VNetHdr {
		if err := setVNetHdr(r.fd); err != nil {
			return err
		}
	}
	req := unix.TpacketReq3{
		Block_size:     uint32(o.BlockSize),
		Block_nr:       uint32(o.NumBlocks),
		Frame_size:     uint32(o.BlockSize), // V3 packs frames of any size into blocks
		Frame_nr:       uint32(o.NumBlocks),
		Retire_blk_tov: uint32(o.BlockTimeout / time.Millisecond),
	}
	if err := unix.SetsockoptTpacketReq3(r.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fmt.Errorf("afpacket: PACKET_RX_RING %d×%d: %w", o.NumBlocks, o.BlockSize, err)
	}
	mem, err := unix.Mmap(r.fd, 0, o.BlockSize*o.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_LOCKED|unix.MAP_POPULATE)
	if err != nil {
		// MAP_LOCKED fails under a tight RLIMIT_MEMLOCK; the ring works
		// unlocked too, it just may be paged.
		mem, err = unix.Mmap(r.fd, 0, o.BlockSize*o.NumBlocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("afpacket: mmap rx ring: %w", err)
		}
	}
	r.mem = mem
	if err := bindTo(r.fd, r.ifindex, ethPAllBE); err != nil {
		return fmt.Errorf("afpacket: bind rx: %w", err)
	}
	r.pfd[0] = unix.PollFd{Fd: int32(r.fd), Events: unix.POLLIN}
	return nil
}

func (r *rxRing) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
		r.mem = nil
	}
	if r.fd >= 0 {
		unix.Close(r.fd)
		r.fd = -1
	}
}

func (r *rxRing) block(i int) []byte {
	return r.mem[i*r.blockSize : (i+1)*r.blockSize]
}

// ready reports whether the kernel has handed the next block to user space.
func (r *rxRing) ready() bool {
	return loadStatus(r.block(r.cur), blockStatusOff)&unix.TP_STATUS_USER != 0
}

// poll waits up to d for the next block with ppoll(2), called directly
// with a preallocated timespec so waiting allocates nothing. It reports
// whether the socket signalled an error instead (the link went down or
// away); reading SO_ERROR clears it so the next poll blocks again.
//
// A blocking system call rather than the Go runtime's network poller: the
// kernel reports a downed link as an error-only wakeup, which poll(2) sees
// at once and the runtime's edge-triggered poller was not seen to deliver.
func (r *rxRing) poll(d time.Duration) (sockErr bool) {
	r.timeout = unix.NsecToTimespec(int64(d))
	r.pfd[0].Revents = 0
	_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&r.pfd[0])), 1,
		uintptr(unsafe.Pointer(&r.timeout)), 0, 0, 0)
	if e != 0 || r.pfd[0].Revents&unix.POLLERR == 0 {
		return false // EINTR and timeouts: the caller simply waits again
	}
	unix.GetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	return true
}

// kernelStats reads (and thereby resets) the socket's PACKET_STATISTICS.
func (r *rxRing) kernelStats() (packets, drops uint64) {
	var st unix.TpacketStatsV3
	l := uint32(unsafe.Sizeof(st))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(r.fd), unix.SOL_PACKET, unix.PACKET_STATISTICS,
		uintptr(unsafe.Pointer(&st)), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return 0, 0
	}
	return uint64(st.Packets), uint64(st.Drops)
}

// rxCounts is what one receive pass saw.
type rxCounts struct {
	frames, bytes, truncated, cut uint64
}

// receive hands up to maxFrames frames to fn, continuing where the last
// call stopped inside a block, and gives each block back to the kernel
// right after its last frame.
func (r *rxRing) receive(fn func(*Frame), maxFrames int) (c rxCounts) {
	for handled := 0; handled < maxFrames; {
		blk := r.block(r.cur)
		if loadStatus(blk, blockStatusOff)&unix.TP_STATUS_USER == 0 {
			break
		}
		if r.left == 0 && r.off == 0 {
			r.left = int(ne.Uint32(blk[blockNumPkts:]))
			r.off = int(ne.Uint32(blk[blockFirstOff:]))
		}
		for r.left > 0 && handled < maxFrames {
			if r.off <= 0 || r.off+tpacket3HdrLen > len(blk) {
				r.left = 0 // a corrupt offset: skip the rest of the block
				break
			}
			h := blk[r.off:]
			r.left--
			handled++
			r.deliver(h, fn, &c)
			next := int(ne.Uint32(h[hdrNextOff:]))
			if next == 0 {
				r.left = 0
			}
			r.off += next
		}
		if r.left > 0 {
			break // budget spent inside this block; resume here next time
		}
		r.off = 0
		storeStatus(blk, blockStatusOff, unix.TP_STATUS_KERNEL)
		r.cur++
		if r.cur == r.numBlocks {
			r.cur = 0
		}
	}
	return c
}

// deliver decodes one tpacket3_hdr at the start of h and calls fn.
func (r *rxRing) deliver(h []byte, fn func(*Frame), c *rxCounts) {
	status := ne.Uint32(h[hdrStatusOff:])
	snap := int(ne.Uint32(h[hdrSnaplenOff:]))
	wire := int(ne.Uint32(h[hdrLenOff:]))
	mac := int(ne.Uint16(h[hdrMacOff:]))
	if mac < tpacket3HdrLen || snap < 0 || snap > len(h) || mac+snap > len(h) {
		c.truncated++
		return
	}
	cut := false
	if snap < wire || wire < 0 {
		if r.cut == 0 || snap != r.cut || wire < 0 {
			// The frame did not fit a block (a GSO super-frame or jumbo
			// beyond the ring's size): forwarding a cut frame would
			// corrupt it.
			c.truncated++
			return
		}
		cut = true // the socket filter kept its headers only
		c.cut++
	}
	var vh VNetHdr
	if r.vnet {
		// The kernel writes the header right in front of the frame. Read
		// it before insertVLAN, which may move the MAC addresses over it.
		if mac-VNetHdrLen < tpacket3HdrLen {
			c.truncated++
			return
		}
		vh, _ = ParseVNetHdr(h[mac-VNetHdrLen : mac])
	}
	data := h[mac : mac+snap]
	if status&unix.TP_STATUS_VLAN_VALID != 0 {
		tpid := uint16(unix.ETH_P_8021Q)
		if status&unix.TP_STATUS_VLAN_TPID_VALID != 0 {
			tpid = ne.Uint16(h[hdrVLANTPID:])
		}
		tci := uint16(ne.Uint32(h[hdrVLANTCI:]))
		data = r.insertVLAN(h, mac, snap, tpid, tci)
		if data == nil {
			c.truncated++
			return
		}
		// The kernel counted its offsets without the tag it had taken
		// out; they count it now.
		vh.shiftForTag()
	}
	r.frame.Data = data
	r.frame.Time = time.Unix(int64(ne.Uint32(h[hdrSecOff:])), int64(ne.Uint32(h[hdrNsecOff:])))
	r.frame.ChecksumPending = status&unix.TP_STATUS_CSUMNOTREADY != 0
	r.frame.Cut = cut
	r.frame.VNet = vh
	c.frames++
	c.bytes += uint64(len(data))
	fn(&r.frame)
}

// insertVLAN puts back the tag the kernel moved into ring metadata, between
// the MAC addresses and the ethertype. The ring leaves headroom between the
// tpacket3_hdr and the frame (the sockaddr_ll and alignment, which the box
// never reads), so normally the addresses just move 4 bytes to the front in
// place; otherwise the frame is rebuilt in the scratch buffer.
func (r *rxRing) insertVLAN(h []byte, mac, snap int, tpid, tci uint16) []byte {
	if snap < 12 {
		return nil
	}
	var out []byte
	if mac-4 >= tpacket3HdrLen {
		copy(h[mac-4:mac+8], h[mac:mac+12])
		out = h[mac-4 : mac+snap]
	} else {
		if snap+4 > len(r.scratch) {
			return nil
		}
		out = r.scratch[:snap+4]
		copy(out[:12], h[mac:mac+12])
		copy(out[16:], h[mac+12:mac+snap])
	}
	binary.BigEndian.PutUint16(out[12:], tpid)
	binary.BigEndian.PutUint16(out[14:], tci)
	return out
}
