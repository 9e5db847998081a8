package afpacket

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethFlagLRO is ETH_FLAG_LRO of ETHTOOL_GFLAGS: large receive offload.
const ethFlagLRO = 1 << 15

// ReceivesAggregates reports whether the kernel merges frames received on
// ifname before a packet socket sees them: generic receive offload (GRO)
// or large receive offload (LRO) is on. Such a port needs
// Options.VNetHdr; without it every aggregate is larger than a wire
// frame, is cut in the ring and dropped (Stats.RxTruncated). A veth also
// passes on its peer's TSO and GSO frames whole whatever its own
// settings, which this cannot see.
func ReceivesAggregates(ifname string) (bool, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return false, fmt.Errorf("afpacket: offloads of %s: %w", ifname, err)
	}
	defer unix.Close(fd)
	gro, err := ethtoolValue(fd, ifname, unix.ETHTOOL_GGRO)
	if err != nil {
		return false, fmt.Errorf("afpacket: GRO of %s: %w", ifname, err)
	}
	flags, err := ethtoolValue(fd, ifname, unix.ETHTOOL_GFLAGS)
	if err != nil {
		return false, fmt.Errorf("afpacket: offload flags of %s: %w", ifname, err)
	}
	return gro != 0 || flags&ethFlagLRO != 0, nil
}

// ethtoolValue runs one of the ethtool get commands that answer with a
// struct ethtool_value {u32 cmd; u32 data}.
func ethtoolValue(fd int, ifname string, cmd uint32) (uint32, error) {
	if len(ifname) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("interface name %q too long", ifname)
	}
	val := struct{ cmd, data uint32 }{cmd: cmd}
	// struct ifreq: the name, then (in its union) the pointer to the
	// command, padded to the union's 24 bytes.
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data unsafe.Pointer
		_    [16]byte
	}
	copy(ifr.name[:], ifname)
	ifr.data = unsafe.Pointer(&val)
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&val)
	if e != 0 {
		return 0, e
	}
	return val.data, nil
}
