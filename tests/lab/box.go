package lab

import (
	"fmt"
	"time"
)

// boxBridge is the kernel bridge joining the box's ports in the baseline
// modes.
func (l *Lab) boxBridge() string { return "bb-" + l.ID }

// UseKernelBridge joins the box's two ports with a kernel bridge: the
// baseline every dataplane result is compared with.
func (l *Lab) UseKernelBridge() error {
	if err := l.setMode(ModeKernel); err != nil {
		return err
	}
	if err := l.kernelBridge(); err != nil {
		return err
	}
	return l.WaitForwarding(10 * time.Second)
}

// nftConntrack is the baseline firewall: stateful, so the kernel's
// conntrack (and with it IP defragmentation) sees every bridged packet.
const nftConntrack = `table inet rackwall_lab {
	chain forward {
		type filter hook forward priority filter; policy accept;
		ct state established,related accept
		ct state invalid drop
	}
}
`

// UseKernelConntrack is UseKernelBridge plus an nftables table with
// "ct state established,related accept", handed bridged IP by
// br_netfilter: the usual Linux bridging firewall, whose conntrack
// reassembles fragments in the kernel's defrag queues.
func (l *Lab) UseKernelConntrack() error {
	if _, err := lookPath("nft"); err != nil {
		return err
	}
	if err := l.setMode(ModeConntrack); err != nil {
		return err
	}
	if err := l.kernelBridge(); err != nil {
		return err
	}
	// The bridge family has no conntrack in every kernel
	// (NF_CONNTRACK_BRIDGE); br_netfilter handing bridged IP to the inet
	// hooks works everywhere and is what most bridging firewalls run.
	if err := l.sysctls(l.BoxNS,
		"net.bridge.bridge-nf-call-iptables=1",
		"net.bridge.bridge-nf-call-ip6tables=1",
	); err != nil {
		return err
	}
	if _, err := l.ExecStdin(l.BoxNS, nftConntrack, "nft", "-f", "-"); err != nil {
		return err
	}
	return l.WaitForwarding(10 * time.Second)
}

func (l *Lab) kernelBridge() error {
	br := l.boxBridge()
	if err := l.run(l.BoxNS, "ip", "link", "add", br, "type", "bridge",
		"forward_delay", "0", "stp_state", "0", "mcast_snooping", "0"); err != nil {
		return err
	}
	for _, p := range []string{l.UplinkPort, l.RackPort} {
		if err := l.run(l.BoxNS, "ip", "link", "set", p, "master", br); err != nil {
			return err
		}
	}
	return l.run(l.BoxNS, "ip", "link", "set", br, "up")
}

// ResetBox undoes the current mode (bridge, nftables, taps; a dataplane is
// stopped), leaving the two ports unjoined so another mode can start.
func (l *Lab) ResetBox() error {
	l.mu.Lock()
	mode := l.mode
	l.mu.Unlock()
	var err error
	switch mode {
	case ModeKernel, ModeConntrack:
		if mode == ModeConntrack {
			_ = l.run(l.BoxNS, "nft", "delete", "table", "inet", "rackwall_lab")
			_ = l.sysctls(l.BoxNS,
				"net.bridge.bridge-nf-call-iptables=0",
				"net.bridge.bridge-nf-call-ip6tables=0")
		}
		err = l.run(l.BoxNS, "ip", "link", "del", l.boxBridge())
	case ModeDataplane:
		l.mu.Lock()
		procs := l.procs
		l.mu.Unlock()
		for _, p := range procs {
			if p.forwarder {
				p.Stop()
			}
		}
	case ModeTaps:
		err = l.removeTaps()
	}
	l.mu.Lock()
	l.mode = ModeNone
	l.mu.Unlock()
	return err
}

// WaitForwarding pings s1 from the client until an answer comes back
// through the box, or d passes.
func (l *Lab) WaitForwarding(d time.Duration) error {
	deadline := time.Now().Add(d)
	var err error
	for time.Now().Before(deadline) {
		if _, err = l.ExecTimeout(3*time.Second, l.ClientNS, "ping", "-c", "1", "-W", "1", ServerV4(1).String()); err == nil {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("lab %s: nothing forwarded through the box within %s: %w", l.ID, d, err)
}
