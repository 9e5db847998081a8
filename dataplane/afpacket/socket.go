package afpacket

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// ethPAllBE is htons(ETH_P_ALL): every protocol, in network byte order as
// socket(2) and bind(2) want it.
const ethPAllBE = uint16(unix.ETH_P_ALL<<8&0xff00 | unix.ETH_P_ALL>>8)

// linkState is what the kernel says about an interface right now.
type linkState struct {
	ifindex int
	up      bool // administratively up and carrier present
	mtu     int
}

// queryLink asks the kernel for the interface's index and flags. It uses a
// throwaway datagram socket so it works while the port has no socket open.
func queryLink(name string) (linkState, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return linkState{}, fmt.Errorf("afpacket: query %s: %w", name, err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return linkState{}, fmt.Errorf("afpacket: interface name %q: %w", name, err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return linkState{}, fmt.Errorf("afpacket: interface %s: %w", name, err)
	}
	st := linkState{ifindex: int(ifr.Uint32())}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return linkState{}, fmt.Errorf("afpacket: interface %s flags: %w", name, err)
	}
	flags := ifr.Uint16()
	st.up = flags&unix.IFF_UP != 0 && flags&unix.IFF_RUNNING != 0
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFMTU, ifr); err == nil {
		st.mtu = int(ifr.Uint32())
	}
	return st, nil
}

// isGone reports errors that mean the interface no longer exists (or the
// socket lost its binding to it), so the socket must be opened anew.
func isGone(err error) bool {
	return errors.Is(err, unix.ENODEV) || errors.Is(err, unix.ENXIO)
}

// packetSocket opens an unbound raw AF_PACKET socket. Binding comes last, once
// the rings exist, so no frame is queued before the ring can take it.
func packetSocket() (int, error) {
	return unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
}

func bindTo(fd, ifindex int, proto uint16) error {
	return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifindex})
}

func setInt(fd, opt, v int) error {
	return unix.SetsockoptInt(fd, unix.SOL_PACKET, opt, v)
}

// backoff spaces out reopen attempts of a vanished interface: quick at
// first so a flap costs little, capped so a re-created link is picked up
// within a second.
type backoff struct {
	next  time.Time
	delay time.Duration
}

const (
	backoffMin = 50 * time.Millisecond
	backoffMax = time.Second
)

func (b *backoff) due(now time.Time) bool { return !now.Before(b.next) }

func (b *backoff) failed(now time.Time) {
	if b.delay == 0 {
		b.delay = backoffMin
	} else if b.delay *= 2; b.delay > backoffMax {
		b.delay = backoffMax
	}
	b.next = now.Add(b.delay)
}

func (b *backoff) reset() { *b = backoff{} }
