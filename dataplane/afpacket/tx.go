package afpacket

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errors Send returns; each is counted in Stats as well.
var (
	ErrTooBig   = errors.New("afpacket: frame larger than a TX slot")
	ErrTXFull   = errors.New("afpacket: TX ring full")
	ErrLinkDown = errors.New("afpacket: link down")
)

// transmitter is the mechanism under a TX half.
type transmitter interface {
	// queue copies the frame into the next free slot; false when none is free.
	queue(frame []byte) bool
	// pending is the number of queued, unflushed frames.
	pending() int
	// flush hands every queued frame to the kernel and reports how many
	// it could not hand over.
	flush() (unsent int, err error)
	close()
}

// txRing is a PACKET_TX_RING: frames are copied into ring slots and one
// sendto makes the kernel send every slot marked SEND_REQUEST, building each
// skb around the ring pages instead of copying the frame again.
type txRing struct {
	fd        int
	mem       []byte
	frameSize int
	frames    int
	head      int
	queued    int
	blockSize int
	perBlock  int  // slots in one block
	vnet      bool // PACKET_VNET_HDR: each slot's data starts with a virtio_net_hdr
}

func openTXRing(fd int, o Options) (*txRing, error) {
	if err := setInt(fd, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return nil, fmt.Errorf("afpacket: TPACKET_V3: %w", err)
	}
	// With PACKET_LOSS a frame the kernel refuses is skipped instead of
	// stopping the ring at that slot for good.
	if err := setInt(fd, unix.PACKET_LOSS, 1); err != nil {
		return nil, fmt.Errorf("afpacket: PACKET_LOSS: %w", err)
	}
	blockSize := 64 << 10
	if o.VNetHdr {
		if err := setVNetHdr(fd); err != nil {
			return nil, err
		}
		blockSize = vnetTXBlockSize
	}
	for blockSize < o.TXFrameSize {
		blockSize <<= 1
	}
	perBlock := blockSize / o.TXFrameSize
	blocks := (o.TXFrames + perBlock - 1) / perBlock
	req := unix.TpacketReq3{
		Block_size: uint32(blockSize),
		Block_nr:   uint32(blocks),
		Frame_size: uint32(o.TXFrameSize),
		Frame_nr:   uint32(blocks * perBlock),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, fmt.Errorf("afpacket: PACKET_TX_RING: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, blockSize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		return nil, fmt.Errorf("afpacket: mmap tx ring: %w", err)
	}
	return &txRing{fd: fd, mem: mem, frameSize: o.TXFrameSize, frames: blocks * perBlock,
		blockSize: blockSize, perBlock: perBlock, vnet: o.VNetHdr}, nil
}

// slot is ring slot i. Slots never straddle blocks: a block holds
// perBlock of them from its start, and what is left at its end (when the
// slot size does not divide the block, as with VNetHdr) is unused.
func (t *txRing) slot(i int) []byte {
	off := i/t.perBlock*t.blockSize + i%t.perBlock*t.frameSize
	return t.mem[off : off+t.frameSize]
}

func (t *txRing) queue(frame []byte) bool {
	if t.vnet {
		// A plain frame on a PACKET_VNET_HDR socket: the kernel still
		// reads a header, one that asks for no offload.
		return t.queueVNet(VNetHdr{}, frame)
	}
	return t.queueData(nil, frame)
}

// queueVNet queues a frame behind its virtio_net_hdr, which the kernel
// reads to segment the frame and complete its checksum. The ring must be
// a PACKET_VNET_HDR one.
func (t *txRing) queueVNet(h VNetHdr, frame []byte) bool {
	var b [VNetHdrLen]byte
	h.Put(b[:])
	return t.queueData(b[:], frame)
}

// queueData copies hdr (if any) and frame into the next slot; false when
// no slot is free or they do not fit one.
func (t *txRing) queueData(hdr, frame []byte) bool {
	n := len(hdr) + len(frame)
	if n > t.frameSize-tpacket3HdrLen {
		return false
	}
	s := t.slot(t.head)
	if st := loadStatus(s, hdrStatusOff); st != unix.TP_STATUS_AVAILABLE && st != unix.TP_STATUS_WRONG_FORMAT {
		// The kernel still owns this slot (its skb is in flight): hand it
		// what is queued, then look again once.
		if t.queued > 0 {
			t.flush()
		}
		if st = loadStatus(s, hdrStatusOff); st != unix.TP_STATUS_AVAILABLE && st != unix.TP_STATUS_WRONG_FORMAT {
			return false
		}
	}
	copy(s[tpacket3HdrLen:], hdr)
	copy(s[tpacket3HdrLen+len(hdr):], frame)
	ne.PutUint32(s[hdrLenOff:], uint32(n))
	ne.PutUint32(s[hdrSnaplenOff:], uint32(n))
	storeStatus(s, hdrStatusOff, unix.TP_STATUS_SEND_REQUEST)
	t.head++
	if t.head == t.frames {
		t.head = 0
	}
	t.queued++
	return true
}

func (t *txRing) pending() int { return t.queued }

func (t *txRing) flush() (int, error) {
	if t.queued == 0 {
		return 0, nil
	}
	t.queued = 0
	// MSG_DONTWAIT: send what is requested and return, do not wait for
	// the skbs to be freed. See rawSend for why the runtime is not told.
	_, _, e := rawSend(unix.SYS_SENDTO, uintptr(t.fd), 0, 0)
	if e != 0 && e != unix.EAGAIN {
		// The slots stay requested and go out with the next flush.
		return 0, e
	}
	return 0, nil
}

func (t *txRing) close() {
	if t.mem != nil {
		unix.Munmap(t.mem)
		t.mem = nil
	}
}

// mmsgBatch copies frames into a user-space batch and sends it with one
// sendmmsg. The kernel copies every frame once more into a new skb.
type mmsgBatch struct {
	fd        int
	buf       []byte
	frameSize int
	iovs      []unix.Iovec
	msgs      []unix.Mmsghdr
	n         int
}

func openMmsg(fd int, o Options) *mmsgBatch {
	m := &mmsgBatch{
		fd:        fd,
		buf:       make([]byte, o.TXFrames*o.TXFrameSize),
		frameSize: o.TXFrameSize,
		iovs:      make([]unix.Iovec, o.TXFrames),
		msgs:      make([]unix.Mmsghdr, o.TXFrames),
	}
	for i := range m.msgs {
		m.iovs[i].Base = &m.buf[i*o.TXFrameSize]
		m.msgs[i].Hdr.Iov = &m.iovs[i]
		m.msgs[i].Hdr.SetIovlen(1)
	}
	return m
}

func (m *mmsgBatch) queue(frame []byte) bool {
	if m.n == len(m.msgs) {
		m.flush()
	}
	copy(m.buf[m.n*m.frameSize:], frame)
	m.iovs[m.n].SetLen(len(frame))
	m.n++
	return true
}

func (m *mmsgBatch) pending() int { return m.n }

func (m *mmsgBatch) flush() (int, error) {
	sent := 0
	var err error
	for sent < m.n {
		// Raw for the reason given at rawSend; the pointer conversion stays
		// in the call expression so the batch is kept alive.
		r, _, e := unix.RawSyscall6(unix.SYS_SENDMMSG, uintptr(m.fd), uintptr(unsafe.Pointer(&m.msgs[sent])),
			uintptr(m.n-sent), unix.MSG_DONTWAIT, 0, 0)
		if e != 0 {
			if e != unix.EAGAIN {
				err = e
			}
			break
		}
		if r == 0 {
			break
		}
		sent += int(r)
	}
	unsent := m.n - sent
	m.n = 0
	return unsent, err
}

func (m *mmsgBatch) close() {}

// rawSend makes a non-blocking transmit system call that takes no pointers
// without telling the Go scheduler (RawSyscall). With MSG_DONTWAIT it never sleeps, but on a veth
// it runs the receiving side's network stack before returning, often for
// longer than the scheduler's 20 µs threshold, after which a plain Syscall
// has its processor handed to another thread and must win one back. On
// the bench (a TCP stream through two veth ports) that handoff cost about
// 15% of the dataplane's CPU time per byte. The cost of not telling: the
// goroutine keeps its processor for the length of one batch's transmit.
func rawSend(trap, fd, a2, a3 uintptr) (r1, r2 uintptr, err unix.Errno) {
	return unix.RawSyscall6(trap, fd, a2, a3, unix.MSG_DONTWAIT, 0, 0)
}
