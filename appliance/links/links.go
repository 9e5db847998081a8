// Package links prepares the box's network interfaces through rtnetlink:
// bridge ports come up promiscuous with no addresses and IPv6 disabled (the
// box never originates traffic on them), and the fail-open bypass joins the
// two ports in a kernel bridge while the dataplane is not forwarding.
package links

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// Conn is an rtnetlink connection. It is not safe for concurrent use.
type Conn struct {
	nl *rtnetlink.Conn
	// sysctlRoot is /proc/sys/net in production; tests may point elsewhere.
	sysctlRoot string
}

// Dial opens an rtnetlink connection in the current network namespace.
func Dial() (*Conn, error) {
	nl, err := rtnetlink.Dial(nil)
	if err != nil {
		return nil, fmt.Errorf("rtnetlink: %w", err)
	}
	return &Conn{nl: nl, sysctlRoot: "/proc/sys/net"}, nil
}

// Close releases the connection.
func (c *Conn) Close() error { return c.nl.Close() }

func (c *Conn) link(name string) (rtnetlink.LinkMessage, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return rtnetlink.LinkMessage{}, fmt.Errorf("interface %s: %w", name, err)
	}
	msg, err := c.nl.Link.Get(uint32(ifi.Index))
	if err != nil {
		return rtnetlink.LinkMessage{}, fmt.Errorf("interface %s: %w", name, err)
	}
	return msg, nil
}

// PrepareBridgePort makes name a silent bridge port: IPv6 disabled first (so
// no link-local address is ever generated), IPv4 told never to answer for
// the box's own addresses, every address removed, the MTU set (0 keeps it),
// then the link up and promiscuous.
func (c *Conn) PrepareBridgePort(name string, mtu int) error {
	if err := c.disableIPv6(name); err != nil {
		return err
	}
	if err := c.silenceIPv4(name); err != nil {
		return err
	}
	msg, err := c.link(name)
	if err != nil {
		return err
	}
	if err := c.flushAddresses(msg.Index); err != nil {
		return fmt.Errorf("interface %s: removing addresses: %w", name, err)
	}
	if mtu > 0 && msg.Attributes != nil && int(msg.Attributes.MTU) != mtu {
		if err := c.nl.Link.Set(&rtnetlink.LinkMessage{
			Family: unix.AF_UNSPEC, Type: msg.Type, Index: msg.Index,
			Attributes: &rtnetlink.LinkAttributes{MTU: uint32(mtu)},
		}); err != nil {
			return fmt.Errorf("interface %s: setting MTU %d: %w", name, mtu, err)
		}
	}
	return c.setFlags(msg, unix.IFF_UP|unix.IFF_PROMISC, unix.IFF_UP|unix.IFF_PROMISC)
}

// SetUp brings a link up without changing anything else (management port).
func (c *Conn) SetUp(name string) error {
	msg, err := c.link(name)
	if err != nil {
		return err
	}
	return c.setFlags(msg, unix.IFF_UP, unix.IFF_UP)
}

func (c *Conn) setFlags(msg rtnetlink.LinkMessage, flags, change uint32) error {
	err := c.nl.Link.Set(&rtnetlink.LinkMessage{
		Family: unix.AF_UNSPEC, Type: msg.Type, Index: msg.Index,
		Flags: flags, Change: change,
	})
	if err != nil {
		return fmt.Errorf("interface index %d: setting flags: %w", msg.Index, err)
	}
	return nil
}

func (c *Conn) flushAddresses(index uint32) error {
	addrs, err := c.nl.Address.List()
	if err != nil {
		return err
	}
	for i := range addrs {
		if addrs[i].Index != index {
			continue
		}
		a := addrs[i]
		if err := c.nl.Address.Delete(&a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return err
		}
	}
	return nil
}

// disableIPv6 turns IPv6 off on one interface. A kernel without IPv6 has no
// such file, which is as good as disabled.
func (c *Conn) disableIPv6(name string) error {
	p := filepath.Join(c.sysctlRoot, "ipv6", "conf", name, "disable_ipv6")
	err := os.WriteFile(p, []byte("1\n"), 0o644)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("interface %s: disabling IPv6: %w", name, err)
	}
	return nil
}

// silenceIPv4 keeps the kernel from speaking for the box on an interface
// that has no address of its own. Linux answers ARP for any local address
// on any interface (the weak host model), so without this a bridge port
// would answer ARP for the management address and reveal the box on the
// wire: arp_ignore 8 answers no ARP request at all, arp_announce 2 never
// uses a foreign address as ARP source, and strict rp_filter drops IP
// packets sent to the port's MAC that the box would route elsewhere.
func (c *Conn) silenceIPv4(name string) error {
	for _, kv := range [][2]string{{"arp_ignore", "8"}, {"arp_announce", "2"}, {"rp_filter", "1"}} {
		p := filepath.Join(c.sysctlRoot, "ipv4", "conf", name, kv[0])
		err := os.WriteFile(p, []byte(kv[1]+"\n"), 0o644)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("interface %s: setting %s: %w", name, kv[0], err)
		}
	}
	return nil
}

// LinkState is what the UI shows of one port.
type LinkState struct {
	Name      string
	Up        bool // administratively up
	Carrier   bool // operational (cable in, peer up)
	SpeedMbps int  // 0 when unknown (virtual NICs)
	MTU       int
	RxBytes   uint64
	TxBytes   uint64
	RxFrames  uint64
	TxFrames  uint64
}

// State reads a link's state and kernel counters.
func (c *Conn) State(name string) (LinkState, error) {
	msg, err := c.link(name)
	if err != nil {
		return LinkState{}, err
	}
	st := LinkState{Name: name, Up: msg.Flags&unix.IFF_UP != 0}
	if a := msg.Attributes; a != nil {
		st.MTU = int(a.MTU)
		st.Carrier = a.OperationalState == rtnetlink.OperStateUp || (a.Carrier != nil && *a.Carrier == 1)
		if s := a.Stats64; s != nil {
			st.RxBytes, st.TxBytes = s.RXBytes, s.TXBytes
			st.RxFrames, st.TxFrames = s.RXPackets, s.TXPackets
		}
	}
	st.SpeedMbps = readSpeed(name)
	return st, nil
}

// readSpeed reads the negotiated speed from sysfs; virtual NICs report -1 or
// nothing, which is shown as unknown.
func readSpeed(name string) int {
	b, err := os.ReadFile(filepath.Join("/sys/class/net", name, "speed"))
	if err != nil {
		return 0
	}
	var n int
	if _, err := fmt.Sscanf(string(b), "%d", &n); err != nil || n < 0 {
		return 0
	}
	return n
}
