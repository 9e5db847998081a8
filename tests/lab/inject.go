package lab

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"time"
)

// Port names an interface inside a namespace.
type Port struct{ NS, If string }

// Injector writes raw frames out of lab interfaces through AF_PACKET
// sockets opened inside their namespaces; it receives nothing.
type Injector struct {
	fds []int
}

// NewInjector opens a send-only packet socket on each port.
func NewInjector(ports ...Port) (*Injector, error) {
	inj := &Injector{}
	for _, p := range ports {
		var fd int
		err := InNamespace(p.NS, func() error {
			ifi, err := net.InterfaceByName(p.If)
			if err != nil {
				return err
			}
			// Protocol 0: the socket is bound for sending only, so the
			// kernel queues no received frames on it.
			fd, err = syscall.Socket(syscall.AF_PACKET, syscall.SOCK_RAW|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if err := syscall.Bind(fd, &syscall.SockaddrLinklayer{Ifindex: ifi.Index}); err != nil {
				syscall.Close(fd)
				return err
			}
			return nil
		})
		if err != nil {
			inj.Close()
			return nil, fmt.Errorf("packet socket on %s in %s: %w", p.If, p.NS, err)
		}
		inj.fds = append(inj.fds, fd)
	}
	return inj, nil
}

// Send writes one frame out of port i (in NewInjector's order).
func (inj *Injector) Send(i int, frame []byte) error {
	n, err := syscall.Write(inj.fds[i], frame)
	if err != nil {
		return err
	}
	if n != len(frame) {
		return fmt.Errorf("short write: %d of %d bytes", n, len(frame))
	}
	return nil
}

// CrossPortGap is the least time Replay leaves between two frames sent
// into different ports. A box reads its ports independently, so a reply
// sent a microsecond after its request, into the other port, may be seen
// first; on a real wire the request has crossed before the reply exists.
const CrossPortGap = 10 * time.Millisecond

// Replay sends pkts in order, each out of the port port(i) names, keeping
// the gaps between the packets' timestamps. Where the port changes from one
// frame to the next, the gap is at least CrossPortGap, and settle (if not
// nil) is called first with the previous port and the number of frames
// sent into it so far, to wait until the box has read them. Time spent
// there shifts the rest of the replay, so later gaps keep their length.
func (inj *Injector) Replay(pkts []Packet, port func(i int) int, settle func(prev, sent int)) error {
	if len(pkts) == 0 {
		return nil
	}
	start, first := time.Now(), pkts[0].Time
	var shift time.Duration
	last, lastPort := time.Time{}, -1
	sent := make([]int, len(inj.fds))
	for i, p := range pkts {
		pt := port(i)
		if lastPort >= 0 && pt != lastPort {
			if settle != nil {
				before := time.Now()
				settle(lastPort, sent[lastPort])
				shift += time.Since(before)
			}
		}
		at := start.Add(p.Time.Sub(first) + shift)
		if lastPort >= 0 && pt != lastPort && at.Sub(last) < CrossPortGap {
			shift += CrossPortGap - at.Sub(last)
			at = last.Add(CrossPortGap)
		}
		if d := time.Until(at); d > 0 {
			time.Sleep(d)
		}
		if err := inj.Send(pt, p.Data); err != nil {
			return fmt.Errorf("frame %d: %w", i+1, err)
		}
		sent[pt]++
		last, lastPort = at, pt
	}
	return nil
}

// Close closes the sockets.
func (inj *Injector) Close() error {
	var errs []error
	for _, fd := range inj.fds {
		errs = append(errs, syscall.Close(fd))
	}
	inj.fds = nil
	return errors.Join(errs...)
}

// SplitBySide assigns each frame of a two-sided capture to side 0 or 1,
// so that the two ends of every unicast conversation sit on opposite
// sides: the first sender is side 0, a host it sends unicast to is side 1,
// and so on. Hosts are told apart by MAC address, as a bridge sees them (a
// router answering for far-away addresses stays on its side); a capture in
// which every frame has the same source MAC (converted from raw IP) is
// told apart by IP address instead. Frames to group addresses go with
// their sender's side. This is how a capture taken on one link is fed back
// into a two-port bridge whose filter checks that replies come from the
// side the request went to.
func SplitBySide(pkts []Packet) []int {
	macs := map[string]bool{}
	for _, p := range pkts {
		if len(p.Data) >= 12 {
			macs[string(p.Data[6:12])] = true
		}
	}
	byIP := len(macs) == 1
	side := map[string]int{}
	out := make([]int, len(pkts))
	for i, p := range pkts {
		src, dst, unicastDst, ok := endpoints(p.Data, byIP)
		if !ok {
			continue
		}
		s, known := side[src]
		if !known {
			s = 0
			if d, ok := side[dst]; ok && unicastDst {
				s = 1 - d
			}
			side[src] = s
		}
		if _, ok := side[dst]; !ok && unicastDst {
			side[dst] = 1 - s
		}
		out[i] = s
	}
	return out
}

// endpoints names a frame's sender and receiver: with byIP, the IP
// addresses of IPv4 and IPv6 frames (behind any VLAN tags); otherwise, and
// for frames without IP, the MAC addresses.
func endpoints(b []byte, byIP bool) (src, dst string, unicastDst, ok bool) {
	if len(b) < 14 {
		return "", "", false, false
	}
	off := 12
	if !byIP {
		off = len(b) // skip straight to the MACs
	}
	for off+4 <= len(b) && (b[off] == 0x81 && b[off+1] == 0x00 || b[off] == 0x88 && b[off+1] == 0xa8) {
		off += 4
	}
	if off+2 <= len(b) {
		etype := uint16(b[off])<<8 | uint16(b[off+1])
		ip := off + 2
		switch {
		case etype == 0x0800 && len(b) >= ip+20:
			d := b[ip+16 : ip+20]
			bcast := d[0] == 255 && d[1] == 255 && d[2] == 255 && d[3] == 255
			return "ip:" + string(b[ip+12:ip+16]), "ip:" + string(d), d[0] < 224 && !bcast, true
		case etype == 0x86dd && len(b) >= ip+40:
			d := b[ip+24 : ip+40]
			return "ip:" + string(b[ip+8:ip+24]), "ip:" + string(d), d[0] != 0xff, true
		}
	}
	return "mac:" + string(b[6:12]), "mac:" + string(b[0:6]), b[0]&1 == 0, true
}
