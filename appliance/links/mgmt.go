package links

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/jsimonetti/rtnetlink/v2"
	"golang.org/x/sys/unix"
)

// Static is a fixed addressing of the management port.
type Static struct {
	Address netip.Prefix // the box's address and the subnet's length
	Gateway netip.Addr   // default route; invalid for none
}

// SetStatic gives the management port exactly s.Address among addresses of
// its family (others of that family are removed; IPv6 link-local addresses
// of an IPv4 setup stay) and, with a gateway, a default route through it.
// It is idempotent: applying the same addressing again changes nothing.
func (c *Conn) SetStatic(name string, s Static) error {
	if !s.Address.IsValid() {
		return errors.New("static management address missing")
	}
	if err := c.SetUp(name); err != nil {
		return err
	}
	msg, err := c.link(name)
	if err != nil {
		return err
	}
	family, bits := uint8(unix.AF_INET6), 128
	if s.Address.Addr().Is4() {
		family, bits = unix.AF_INET, 32
	}
	want := s.Address.Addr()
	addrs, err := c.nl.Address.List()
	if err != nil {
		return fmt.Errorf("listing addresses: %w", err)
	}
	have := false
	for i := range addrs {
		a := addrs[i]
		if a.Index != msg.Index || a.Family != family || a.Attributes == nil {
			continue
		}
		got, _ := netip.AddrFromSlice(a.Attributes.Address)
		got = got.Unmap()
		if got.IsLinkLocalUnicast() {
			continue
		}
		if got == want && int(a.PrefixLength) == s.Address.Bits() {
			have = true
			continue
		}
		if err := c.nl.Address.Delete(&a); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			return fmt.Errorf("removing %v from %s: %w", got, name, err)
		}
	}
	if !have {
		ip := net.IP(want.AsSlice())
		attrs := &rtnetlink.AddressAttributes{Address: ip, Local: ip}
		if family == unix.AF_INET && s.Address.Bits() < 31 {
			attrs.Broadcast = broadcast(s.Address)
		}
		err := c.nl.Address.New(&rtnetlink.AddressMessage{
			Family: family, PrefixLength: uint8(s.Address.Bits()), Index: msg.Index,
			Scope: unix.RT_SCOPE_UNIVERSE, Attributes: attrs,
		})
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("adding %v to %s: %w", s.Address, name, err)
		}
	}
	if !s.Gateway.IsValid() {
		return nil
	}
	if s.Gateway.BitLen() != bits {
		return fmt.Errorf("gateway %v is not of the address's family", s.Gateway)
	}
	err = c.nl.Route.Replace(&rtnetlink.RouteMessage{
		Family: family, Table: unix.RT_TABLE_MAIN, Protocol: unix.RTPROT_STATIC,
		Scope: unix.RT_SCOPE_UNIVERSE, Type: unix.RTN_UNICAST,
		Attributes: rtnetlink.RouteAttributes{Gateway: net.IP(s.Gateway.AsSlice()), OutIface: msg.Index},
	})
	if err != nil {
		return fmt.Errorf("default route via %v on %s: %w", s.Gateway, name, err)
	}
	return nil
}

func broadcast(p netip.Prefix) net.IP {
	b := p.Masked().Addr().As4()
	host := ^uint32(0) >> p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return net.IPv4(byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}
