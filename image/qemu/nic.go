package qemu

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// NIC is the network card model qemu emulates for all of a VM's ports. The
// image's kernel names the ports eth0, eth1, eth2 in the order qemu puts
// them on the PCI bus (management, uplink, rack) whichever model it is, as
// long as all three share one driver: cards with different drivers are
// named in the order the drivers register, which is not the bus order.
type NIC string

const (
	// NICVirtio is paravirtual virtio-net, the fastest model and the default.
	NICVirtio NIC = "virtio-net-pci"
	// NICE1000E is the Intel 82574L, a PCI Express gigabit card driven by
	// Linux's e1000e.
	NICE1000E NIC = "e1000e"
	// NICIGB is the Intel 82576, driven by Linux's igb, the closest qemu
	// model to the Intel server and appliance NICs. qemu has it from 8.0 on.
	NICIGB NIC = "igb"
)

// nicNames are the names ParseNIC takes, in the order help texts list them.
var nicNames = []struct {
	name string
	nic  NIC
}{{"virtio", NICVirtio}, {"e1000e", NICE1000E}, {"igb", NICIGB}}

// NICNames lists the names ParseNIC accepts.
func NICNames() []string {
	var names []string
	for _, n := range nicNames {
		names = append(names, n.name)
	}
	return names
}

// ParseNIC turns a command-line name (virtio, e1000e, igb) into a NIC.
func ParseNIC(name string) (NIC, error) {
	for _, n := range nicNames {
		if n.name == name {
			return n.nic, nil
		}
	}
	return "", fmt.Errorf("unknown NIC model %q (known: %s)", name, strings.Join(NICNames(), ", "))
}

// Driver is the Linux driver that binds the emulated card; it is how the
// card shows in the guest's kernel log.
func (n NIC) Driver() string {
	switch n {
	case NICVirtio:
		return "virtio_net"
	case NICE1000E:
		return "e1000e"
	case NICIGB:
		return "igb"
	}
	return ""
}

var (
	deviceHelpOnce sync.Once
	deviceHelp     string
	deviceHelpErr  error
)

// Supported reports why this host's qemu cannot emulate n, or nil: an
// older qemu lacks newer models (igb came with qemu 8.0), and a
// distribution may build qemu without some.
func (n NIC) Supported() error {
	if n.Driver() == "" {
		return fmt.Errorf("unknown NIC model %q", string(n))
	}
	deviceHelpOnce.Do(func() {
		out, err := exec.Command(Binary, "-device", "help").CombinedOutput()
		deviceHelp, deviceHelpErr = string(out), err
	})
	if deviceHelpErr != nil {
		return fmt.Errorf("%s -device help: %v", Binary, deviceHelpErr)
	}
	if !listsDevice(deviceHelp, string(n)) {
		return fmt.Errorf("this %s has no %s device (qemu-system-x86_64 -device help does not list it)", Binary, n)
	}
	return nil
}

// listsDevice reports whether qemu's `-device help` output names device:
// a line `name "e1000e", bus PCI, ...` (or an alias of that name).
func listsDevice(help, device string) bool {
	quoted := `"` + device + `"`
	for _, line := range strings.Split(help, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "name "+quoted+",") || strings.Contains(line, "alias "+quoted) {
			return true
		}
	}
	return false
}

// PortMAC is the MAC address a VM's port i gets: 0 management, 1 uplink,
// 2 rack. Tests find the ports by it on the wire and in the guest's log.
func PortMAC(i int) string { return fmt.Sprintf("02:72:77:00:00:%02x", i+1) }

// networkArgs are qemu's -netdev and -device arguments for the VM's ports,
// in bus order (management on qemu's user network, then the uplink and
// rack taps that are set), and the tap files qemu inherits: the i-th file
// is the child's descriptor 3+i, which the -netdev arguments name.
func (o Options) networkArgs() (args []string, taps []*os.File) {
	user := "user,id=mgmt"
	for _, f := range o.Forwards {
		user += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-:%d", f.Host, f.Guest)
	}
	args = append(args, "-netdev", user, "-device", o.nicDevice("mgmt", 0))
	for i, tap := range []*os.File{o.Uplink, o.Rack} {
		if tap == nil {
			continue
		}
		id := []string{"uplink", "rack"}[i]
		args = append(args,
			"-netdev", fmt.Sprintf("tap,id=%s,fd=%d", id, 3+len(taps)),
			"-device", o.nicDevice(id, i+1))
		taps = append(taps, tap)
	}
	return args, taps
}

// nicDevice is the -device argument of port i on netdev id. (qemu's plain
// e1000 model is not offered: it has come up without a MAC address under
// load.)
func (o Options) nicDevice(id string, i int) string {
	n := o.NIC
	if n == "" {
		n = NICVirtio
	}
	return fmt.Sprintf("%s,netdev=%s,mac=%s", n, id, PortMAC(i))
}
