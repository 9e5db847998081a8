package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Blaster floods lab interfaces with prebuilt frames as fast as the host
// can write them: one goroutine per sender on its own OS thread, each with
// its own AF_PACKET socket that bypasses the qdisc and writes a batch of
// frames per sendmmsg(2) call. Unlike hping3 or tcpreplay it sends
// exactly the frames it is given (minimum-size frames, fragments, any
// addresses), and unlike Injector it is built for rate, not order.
//
// Senders only ever write out of the lab's own interfaces, inside the
// lab's namespaces, to the lab's own hosts.
type Blaster struct {
	senders []*blastSender
	stop    atomic.Bool
	wg      sync.WaitGroup
}

// BlastSender is one flooder: the interface it writes out of and the
// frames it cycles through.
type BlastSender struct {
	Port   Port
	Frames [][]byte
}

type blastSender struct {
	BlastSender
	fd      int
	sent    atomic.Int64 // frames the kernel accepted
	refused atomic.Int64 // frames refused (ENOBUFS and the like)
}

// packetQdiscBypass is PACKET_QDISC_BYPASS from linux/if_packet.h: frames
// go straight to the driver, so the flooder spends its time sending, not
// queueing.
const packetQdiscBypass = 20

// blastBatch is how many frames one sendmmsg call carries.
const blastBatch = 64

// NewBlaster opens one packet socket per sender.
func NewBlaster(senders ...BlastSender) (*Blaster, error) {
	b := &Blaster{}
	for _, s := range senders {
		if len(s.Frames) == 0 {
			b.Close()
			return nil, fmt.Errorf("blast: sender on %s has no frames", s.Port.If)
		}
		bs := &blastSender{BlastSender: s}
		err := InNamespace(s.Port.NS, func() error {
			ifi, err := net.InterfaceByName(s.Port.If)
			if err != nil {
				return err
			}
			fd, err := syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if err := syscall.SetsockoptInt(fd, syscall.SOL_PACKET, packetQdiscBypass, 1); err != nil {
				syscall.Close(fd)
				return fmt.Errorf("PACKET_QDISC_BYPASS: %w", err)
			}
			if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
				syscall.Close(fd)
				return err
			}
			bs.fd = fd
			return nil
		})
		if err != nil {
			b.Close()
			return nil, fmt.Errorf("blast: packet socket on %s in %s: %w", s.Port.If, s.Port.NS, err)
		}
		b.senders = append(b.senders, bs)
	}
	return b, nil
}

// Start begins sending on every sender; Stop ends it.
func (b *Blaster) Start() {
	for _, s := range b.senders {
		b.wg.Go(func() { s.run(&b.stop) })
	}
}

// mmsghdr is struct mmsghdr of sendmmsg(2).
type mmsghdr struct {
	hdr syscall.Msghdr
	n   uint32
	_   [4]byte
}

func (s *blastSender) run(stop *atomic.Bool) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	iovs := make([]syscall.Iovec, blastBatch)
	msgs := make([]mmsghdr, blastBatch)
	next := 0
	for !stop.Load() {
		for i := range msgs {
			f := s.Frames[next]
			next = (next + 1) % len(s.Frames)
			iovs[i].Base = &f[0]
			iovs[i].SetLen(len(f))
			msgs[i].hdr = syscall.Msghdr{Iov: &iovs[i], Iovlen: 1}
		}
		n, _, errno := syscall.Syscall6(unix.SYS_SENDMMSG, uintptr(s.fd),
			uintptr(unsafe.Pointer(&msgs[0])), uintptr(len(msgs)), 0, 0, 0)
		runtime.KeepAlive(iovs)
		if errno != 0 {
			// The device's queue is full: the frame is lost as it would
			// be on a wire, and the flooder goes on.
			s.refused.Add(1)
			continue
		}
		s.sent.Add(int64(n))
		s.refused.Add(int64(len(msgs) - int(n)))
	}
}

// Stop ends the flood and returns how many frames each sender got onto
// its link and how many the kernel refused, in NewBlaster's order.
func (b *Blaster) Stop() (sent, refused []int64) {
	b.stop.Store(true)
	b.wg.Wait()
	for _, s := range b.senders {
		sent = append(sent, s.sent.Load())
		refused = append(refused, s.refused.Load())
	}
	return sent, refused
}

// Close closes the sockets; call it after Stop.
func (b *Blaster) Close() error {
	var errs []error
	for _, s := range b.senders {
		if s.fd > 0 {
			errs = append(errs, syscall.Close(s.fd))
			s.fd = 0
		}
	}
	return errors.Join(errs...)
}

// MinUDP4Frame is a minimum-size (60-byte) Ethernet frame carrying an IPv4
// UDP datagram from src to dst, checksums set.
func MinUDP4Frame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, sport, dport uint16) []byte {
	payload := make([]byte, 60-14-20-8)
	return udp4Frame(dstMAC, srcMAC, src, dst, 0, false, 0, sport, dport, payload)
}

// TinyFragment4Frame is a minimum-size first fragment (MF set, offset 0)
// of an IPv4 UDP datagram that never completes: the kind of fragment the
// F rules drop (F6: far below min_fragment_bytes).
func TinyFragment4Frame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, id uint16, dport uint16) []byte {
	payload := make([]byte, 60-14-20-8)
	return udp4Frame(dstMAC, srcMAC, src, dst, id, true, 0, 4000, dport, payload)
}

func udp4Frame(dstMAC, srcMAC net.HardwareAddr, src, dst netip.Addr, id uint16, more bool, off int, sport, dport uint16, payload []byte) []byte {
	f := make([]byte, 14+20+8+len(payload))
	copy(f[0:], dstMAC)
	copy(f[6:], srcMAC)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], id)
	ff := uint16(off / 8)
	if more {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(ip[6:], ff)
	ip[8], ip[9] = 64, 17
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], inetChecksum(ip, 0))
	u := f[34:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	copy(u[8:], payload)
	// Pseudo-header: addresses, protocol, UDP length.
	var pseudo uint32
	for i := 0; i < 4; i += 2 {
		pseudo += uint32(binary.BigEndian.Uint16(s4[i:])) + uint32(binary.BigEndian.Uint16(d4[i:]))
	}
	pseudo += 17 + uint32(8+len(payload))
	sum := inetChecksum(u, pseudo)
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], sum)
	return f
}

// inetChecksum is the Internet checksum of b with an initial sum.
func inetChecksum(b []byte, sum uint32) uint16 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}
