package lab

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Links lists every veth end of the lab with its namespace: the client's,
// the box's two ports, the switch's ports and the servers'.
func (l *Lab) Links() []Port {
	out := []Port{
		{l.ClientNS, l.ClientIf},
		{l.BoxNS, l.UplinkPort}, {l.BoxNS, l.RackPort},
		{l.SwitchNS, l.SwitchUplink},
	}
	for i := range l.ServerNS {
		out = append(out, Port{l.SwitchNS, l.switchPort(i + 1)}, Port{l.ServerNS[i], l.ServerIf[i]})
	}
	return out
}

// nicOffloads are what a server NIC has on: checksum offload,
// scatter-gather, TCP segmentation and generic segmentation and receive
// offload. On a veth they make TCP cross the lab as 64 KiB super-frames.
var nicOffloads = []string{"tx", "rx", "sg", "tso", "gso", "gro"}

// SetOffloads turns the NIC-like offloads on (on) or every offload off,
// the lab's wire profile, on every veth of the lab.
func (l *Lab) SetOffloads(on bool) error {
	for _, p := range l.Links() {
		if !on {
			if err := l.offloadsOff(p.NS, p.If); err != nil {
				return err
			}
			continue
		}
		args := []string{"ethtool", "-K", p.If}
		for _, f := range nicOffloads {
			args = append(args, f, "on")
		}
		if _, err := l.ExecTimeout(10*time.Second, p.NS, args...); err != nil {
			return err
		}
	}
	return nil
}

// CPUMask is the hexadecimal CPU bitmap sysfs takes for a set of CPUs.
func CPUMask(cpus ...int) string {
	var m uint64
	for _, c := range cpus {
		m |= 1 << uint(c)
	}
	return strconv.FormatUint(m, 16)
}

// SetRPS steers the receive processing of port's first queue to cpus
// (receive packet steering), as a NIC's interrupt affinity would: on a
// veth the receive work otherwise runs on whichever CPU sent the frame.
// No CPUs turns steering off again.
func (l *Lab) SetRPS(port Port, cpus ...int) error {
	mask := "0"
	if len(cpus) > 0 {
		mask = CPUMask(cpus...)
	}
	path := fmt.Sprintf("/sys/class/net/%s/queues/rx-0/rps_cpus", port.If)
	_, err := l.ExecStdin(port.NS, mask+"\n", "sh", "-c", "cat > "+path)
	return err
}

// LinkCounter reads one of an interface's statistics
// (/sys/class/net/IF/statistics/NAME: rx_packets, tx_dropped, …).
func (l *Lab) LinkCounter(port Port, name string) (uint64, error) {
	out, err := l.ExecTimeout(10*time.Second, port.NS, "cat", fmt.Sprintf("/sys/class/net/%s/statistics/%s", port.If, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(out)), 10, 64)
}
