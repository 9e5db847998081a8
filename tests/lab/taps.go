package lab

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"
)

// UseTaps puts two tap devices in the box namespace in place of the box:
// frames arriving on the uplink port leave through the uplink tap and frames
// a VM writes to that tap leave through the uplink port (likewise for the
// rack side), joined by tc mirred redirects that act as a plain wire. A VM
// started in BoxNS attaches to the returned names (see QemuNetdevArgs).
func (l *Lab) UseTaps() (uplinkTap, rackTap string, err error) {
	if err := l.setMode(ModeTaps); err != nil {
		return "", "", err
	}
	uplinkTap, rackTap = "tu-"+l.ID, "tr-"+l.ID
	l.mu.Lock()
	l.taps = [2]string{uplinkTap, rackTap}
	l.mu.Unlock()
	for _, pair := range [][2]string{{l.UplinkPort, uplinkTap}, {l.RackPort, rackTap}} {
		port, tap := pair[0], pair[1]
		if err := l.run(l.BoxNS, "ip", "tuntap", "add", "mode", "tap", "name", tap); err != nil {
			return "", "", err
		}
		// Ignore failures here: a tap's features are mostly set by whoever
		// opens it (qemu negotiates them with the guest).
		_ = l.offloadsOff(l.BoxNS, tap)
		if err := l.run(l.BoxNS, "ip", "link", "set", tap, "promisc", "on", "up"); err != nil {
			return "", "", err
		}
		if err := l.redirect(port, tap); err != nil {
			return "", "", err
		}
		if err := l.redirect(tap, port); err != nil {
			return "", "", err
		}
	}
	return uplinkTap, rackTap, nil
}

// redirect sends every frame received on from out of to, unchanged.
func (l *Lab) redirect(from, to string) error {
	if err := l.run(l.BoxNS, "tc", "qdisc", "add", "dev", from, "ingress"); err != nil {
		return err
	}
	return l.run(l.BoxNS, "tc", "filter", "add", "dev", from, "parent", "ffff:",
		"protocol", "all", "prio", "1", "u32", "match", "u32", "0", "0",
		"action", "mirred", "egress", "redirect", "dev", to)
}

func (l *Lab) removeTaps() error {
	l.mu.Lock()
	taps := l.taps
	l.taps = [2]string{}
	l.mu.Unlock()
	for _, port := range []string{l.UplinkPort, l.RackPort} {
		_ = l.run(l.BoxNS, "tc", "qdisc", "del", "dev", port, "ingress")
	}
	for _, tap := range taps {
		if tap == "" {
			continue
		}
		if err := l.run(l.BoxNS, "ip", "link", "del", tap); err != nil {
			return err
		}
	}
	return nil
}

// QemuNetdevArgs returns the qemu arguments that attach a VM's first two
// NICs (virtio-net, uplink then rack) to the lab's taps. Run qemu in BoxNS:
// `ip netns exec <BoxNS> qemu-system-x86_64 ... <these args>`.
func (l *Lab) QemuNetdevArgs() []string {
	l.mu.Lock()
	taps := l.taps
	l.mu.Unlock()
	var args []string
	for i, tap := range taps {
		if tap == "" {
			continue
		}
		id := fmt.Sprintf("port%d", i)
		args = append(args,
			"-netdev", fmt.Sprintf("tap,id=%s,ifname=%s,script=no,downscript=no", id, tap),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=%s,mac=02:78:%02x:00:00:%02x", id, i, i+1))
	}
	return args
}

// OpenTap opens a tap device of namespace ns as a file of frames (no packet
// information header): each Read returns one frame, each Write sends one.
// It does what qemu does with the taps, so lab tests can stand in for a VM.
func OpenTap(ns, name string) (*os.File, error) {
	var f *os.File
	err := InNamespace(ns, func() error {
		fd, err := syscall.Open("/dev/net/tun", syscall.O_RDWR|syscall.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		var req [40]byte // struct ifreq: name[16], flags uint16, padding
		copy(req[:16], name)
		const iffTap, iffNoPI = 0x0002, 0x1000
		*(*uint16)(unsafe.Pointer(&req[16])) = iffTap | iffNoPI
		const tunSetIff = 0x400454ca
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), tunSetIff, uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
			syscall.Close(fd)
			return fmt.Errorf("TUNSETIFF %s: %w", name, errno)
		}
		// Non-blocking, so the file uses the runtime poller and Close
		// interrupts a pending Read.
		if err := syscall.SetNonblock(fd, true); err != nil {
			syscall.Close(fd)
			return err
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	return f, err
}
