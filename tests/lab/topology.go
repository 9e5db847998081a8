package lab

import (
	"fmt"
	"net"
	"strings"
	"time"
)

// offloadFeatures are turned off on every lab interface so frames on the veth
// look like frames on a wire: checksums filled in, no GSO super-frames, VLAN
// tags left in the frame rather than in skb metadata where possible.
var offloadFeatures = []string{
	"tx", "tso", "gso", "gro", "rx", "lro", "sg",
	"rxvlan", "txvlan", "rx-vlan-stag-hw-parse", "tx-vlan-stag-hw-insert",
}

// build creates the namespaces, links and addresses. On error the caller
// closes the lab, which deletes whatever was made.
func (l *Lab) build() error {
	for _, ns := range l.Namespaces() {
		if err := l.run("", "ip", "netns", "add", ns); err != nil {
			return err
		}
		if err := l.run(ns, "ip", "link", "set", "lo", "up"); err != nil {
			return err
		}
	}
	// The box and the switch are L2 only: no IPv6 link-local addresses, no
	// neighbour or MLD chatter of their own, no bridge netfilter.
	for _, ns := range []string{l.BoxNS, l.SwitchNS} {
		if err := l.sysctls(ns,
			"net.ipv6.conf.all.disable_ipv6=1",
			"net.ipv6.conf.default.disable_ipv6=1",
			"net.bridge.bridge-nf-call-iptables=0",
			"net.bridge.bridge-nf-call-ip6tables=0",
			"net.bridge.bridge-nf-call-arptables=0",
		); err != nil {
			return err
		}
	}
	// Hosts: no router solicitations or RA processing (there is no router)
	// and no duplicate address detection, whose probes come from :: — a
	// martian source (H2) the dataplane would count as a drop.
	hosts := append([]string{l.ClientNS}, l.ServerNS...)
	for _, ns := range hosts {
		if err := l.sysctls(ns,
			"net.ipv6.conf.default.router_solicitations=0",
			"net.ipv6.conf.default.accept_ra=0",
			"net.ipv6.conf.default.accept_dad=0",
			"net.ipv6.conf.default.dad_transmits=0",
		); err != nil {
			return err
		}
	}

	type link struct{ ns, name string }
	var links []link
	veth := func(a, aNS, b, bNS string) error {
		links = append(links, link{aNS, a}, link{bNS, b})
		return l.run("", "ip", "link", "add", a, "netns", aNS, "type", "veth", "peer", "name", b, "netns", bNS)
	}
	if err := veth(l.ClientIf, l.ClientNS, l.UplinkPort, l.BoxNS); err != nil {
		return err
	}
	if err := veth(l.RackPort, l.BoxNS, l.SwitchUplink, l.SwitchNS); err != nil {
		return err
	}
	for i := range l.ServerNS {
		if err := veth(l.ServerIf[i], l.ServerNS[i], l.switchPort(i+1), l.SwitchNS); err != nil {
			return err
		}
	}
	for i, lk := range links {
		mac := l.labMAC(i + 1)
		l.macs[lk.name] = mac
		if err := l.run(lk.ns, "ip", "link", "set", "dev", lk.name, "address", mac.String()); err != nil {
			return err
		}
		if err := l.offloadsOff(lk.ns, lk.name); err != nil {
			return err
		}
	}

	if err := l.run(l.SwitchNS, "ip", "link", "add", l.SwitchBridge, "type", "bridge",
		"forward_delay", "0", "stp_state", "0", "mcast_snooping", "0"); err != nil {
		return err
	}
	ports := []string{l.SwitchUplink}
	for i := range l.ServerNS {
		ports = append(ports, l.switchPort(i+1))
	}
	for _, p := range ports {
		if err := l.run(l.SwitchNS, "ip", "link", "set", p, "master", l.SwitchBridge, "up"); err != nil {
			return err
		}
	}
	if err := l.run(l.SwitchNS, "ip", "link", "set", l.SwitchBridge, "up"); err != nil {
		return err
	}
	for _, p := range []string{l.UplinkPort, l.RackPort} {
		if err := l.run(l.BoxNS, "ip", "link", "set", p, "promisc", "on", "up"); err != nil {
			return err
		}
	}

	if err := l.address(l.ClientNS, l.ClientIf, ClientV4.String()+"/24", ClientV6.String()+"/64"); err != nil {
		return err
	}
	for i := range l.ServerNS {
		if err := l.address(l.ServerNS[i], l.ServerIf[i], ServerV4(i+1).String()+"/24", ServerV6(i+1).String()+"/64"); err != nil {
			return err
		}
	}
	return nil
}

func (l *Lab) switchPort(i int) string { return fmt.Sprintf("p%d-%s", i, l.ID) }

// labMAC gives interface n of this lab a locally administered unicast
// address that embeds the lab id, so MACs of two labs never clash.
func (l *Lab) labMAC(n int) net.HardwareAddr {
	var id [3]byte
	for i := 0; i < len(l.ID) && i < 6; i++ {
		c := l.ID[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			v = c & 0x0f
		}
		id[i/2] |= v << (4 * (1 - uint(i%2)))
	}
	return net.HardwareAddr{0x02, 0x77, id[0], id[1], id[2], byte(n)}
}

func (l *Lab) address(ns, ifname, v4, v6 string) error {
	if err := l.run(ns, "ip", "addr", "add", v4, "dev", ifname); err != nil {
		return err
	}
	// nodad: the address is usable at once instead of after DAD's delay.
	if err := l.run(ns, "ip", "-6", "addr", "add", v6, "dev", ifname, "nodad"); err != nil {
		return err
	}
	return l.run(ns, "ip", "link", "set", ifname, "up")
}

func (l *Lab) sysctls(ns string, settings ...string) error {
	for _, s := range settings {
		// A missing key (say br_netfilter absent) is no reason to fail:
		// it only means the kernel has no such behaviour to turn off.
		if _, err := l.ExecTimeout(10*time.Second, ns, "sysctl", "-q", "-w", s); err != nil {
			key := strings.SplitN(s, "=", 2)[0]
			if strings.HasPrefix(key, "net.bridge.") {
				continue
			}
			return err
		}
	}
	return nil
}

// offloadsOff turns off every offload the device lets us change. ethtool
// fails the whole call if any one feature is fixed, so on failure each
// feature is tried alone and fixed ones are skipped.
func (l *Lab) offloadsOff(ns, ifname string) error {
	args := []string{"ethtool", "-K", ifname}
	for _, f := range offloadFeatures {
		args = append(args, f, "off")
	}
	if _, err := l.ExecTimeout(10*time.Second, ns, args...); err == nil {
		return nil
	}
	changed := 0
	for _, f := range offloadFeatures {
		if _, err := l.ExecTimeout(10*time.Second, ns, "ethtool", "-K", ifname, f, "off"); err == nil {
			changed++
		}
	}
	if changed == 0 {
		return fmt.Errorf("ethtool -K %s: no offload could be turned off", ifname)
	}
	return nil
}
