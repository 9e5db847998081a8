// Package source names the "sources" of POLICY.md F12: an IPv4 address, an
// IPv6 /64, or (on the rack side) a source MAC address. Each is counted on its
// own, so a host that randomizes its IP source is still one source by its MAC.
// Memory shares, rate limits, violation accounting and quarantine all key on
// Key.
package source

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/rackwall/rackwall/dataplane/packet"
)

// Kind is what a Key identifies.
type Kind uint8

const (
	KindNone Kind = iota
	KindIPv4      // one IPv4 address
	KindIPv6      // one IPv6 /64
	KindMAC       // one source MAC address (rack side only)
)

// Key is a comparable, allocation-free source identity, usable as a map key.
type Key struct {
	Kind Kind
	b    [8]byte // IPv4: 4 bytes; IPv6: the /64 prefix; MAC: 6 bytes
}

// MaxKeys is how many keys one frame can be charged to.
const MaxKeys = 2

// Keys returns the sources a frame is charged to: its IP source (IPv4
// address or IPv6 /64) and, for frames coming from the rack (packet.Out), its
// source MAC. Non-IP frames from the rack are charged to the MAC alone.
func Keys(f *packet.Frame, dir packet.Direction) (keys [MaxKeys]Key, n int) {
	if f.Src.Is4() {
		keys[n] = FromAddr(f.Src)
		n++
	} else if f.Src.Is6() {
		keys[n] = FromAddr(f.Src)
		n++
	}
	if dir == packet.Out {
		keys[n] = FromMAC(f.SrcMAC)
		n++
	}
	return keys, n
}

// FromAddr returns the key of an address: the address itself for IPv4
// (IPv4-mapped IPv6 addresses included), its /64 for IPv6.
func FromAddr(a netip.Addr) Key {
	a = a.Unmap()
	var k Key
	if a.Is4() {
		k.Kind = KindIPv4
		v4 := a.As4()
		copy(k.b[:], v4[:])
		return k
	}
	k.Kind = KindIPv6
	v6 := a.As16()
	copy(k.b[:], v6[:8])
	return k
}

// FromMAC returns the key of a source MAC address.
func FromMAC(mac [6]byte) Key {
	k := Key{Kind: KindMAC}
	copy(k.b[:], mac[:])
	return k
}

// Bytes returns the key's identity bytes: the IPv4 address in the first
// 4, the IPv6 /64 in all 8, or the MAC address in the first 6.
func (k Key) Bytes() [8]byte { return k.b }

// Prefix returns the key as an IP prefix (a /32 or a /64); ok is false for MAC keys.
func (k Key) Prefix() (netip.Prefix, bool) {
	switch k.Kind {
	case KindIPv4:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte(k.b[:4])), 32), true
	case KindIPv6:
		var a [16]byte
		copy(a[:], k.b[:])
		return netip.PrefixFrom(netip.AddrFrom16(a), 64), true
	}
	return netip.Prefix{}, false
}

// MAC returns the address of a MAC key.
func (k Key) MAC() (net.HardwareAddr, bool) {
	if k.Kind != KindMAC {
		return nil, false
	}
	return net.HardwareAddr(append([]byte(nil), k.b[:6]...)), true
}

// String formats the key as an operator reads it: "192.0.2.7",
// "2001:db8:1:2::/64" or "mac 02:00:00:00:00:01". Parse reads it back.
func (k Key) String() string {
	switch k.Kind {
	case KindIPv4:
		p, _ := k.Prefix()
		return p.Addr().String()
	case KindIPv6:
		p, _ := k.Prefix()
		return p.String()
	case KindMAC:
		m, _ := k.MAC()
		return "mac " + m.String()
	}
	return "none"
}

// Parse reads a key as String writes it. It also accepts a bare MAC address,
// "mac-02:00:…" (URL-friendly) and any IPv6 address (taken as its /64).
func Parse(s string) (Key, error) {
	s = strings.TrimSpace(s)
	if rest, ok := strings.CutPrefix(s, "mac "); ok {
		s = rest
	} else if rest, ok := strings.CutPrefix(s, "mac-"); ok {
		s = rest
	}
	if hw, err := net.ParseMAC(s); err == nil && len(hw) == 6 {
		return FromMAC([6]byte(hw)), nil
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4() && p.Bits() == 32 || p.Addr().Is6() && p.Bits() == 64 {
			return FromAddr(p.Addr()), nil
		}
		return Key{}, fmt.Errorf("source %q: a source is one IPv4 address or one IPv6 /64", s)
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return FromAddr(a), nil
	}
	return Key{}, fmt.Errorf("source %q: want an IPv4 address, an IPv6 /64 or a MAC address", s)
}

// Contains reports whether the address belongs to this source.
func (k Key) Contains(a netip.Addr) bool {
	p, ok := k.Prefix()
	return ok && p.Contains(a.Unmap())
}
