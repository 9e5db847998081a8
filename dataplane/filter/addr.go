package filter

import (
	"encoding/binary"
	"math"
	"net/netip"
)

// u128 is an address as a number, so prefixes become ranges and lookups are
// plain comparisons. IPv4 addresses use the low 32 bits; the two families
// never meet in one index.
type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || a.hi == b.hi && a.lo < b.lo }

func (a u128) lessEq(b u128) bool { return !b.less(a) }

func (a u128) inc() u128 {
	if a.lo == ^uint64(0) {
		return u128{a.hi + 1, 0}
	}
	return u128{a.hi, a.lo + 1}
}

func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{0, uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

// prefixRange returns the first and last address of a prefix.
func prefixRange(p netip.Prefix) (first, last u128) {
	first = addrU128(p.Masked().Addr())
	hostBits := p.Addr().BitLen() - p.Bits()
	switch {
	case hostBits == 0:
		return first, first
	case hostBits < 64:
		return first, u128{first.hi, first.lo | (1<<hostBits - 1)}
	case hostBits == 64:
		return first, u128{first.hi, ^uint64(0)}
	default:
		return first, u128{first.hi | (1<<(hostBits-64) - 1), ^uint64(0)}
	}
}

// familyOf is the index of an address family: 0 for IPv4, 1 for IPv6.
func familyOf(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// maxAddr is the last address of a family.
func maxAddr(fam int) u128 {
	if fam == 0 {
		return u128{0, 1<<32 - 1}
	}
	return u128{^uint64(0), ^uint64(0)}
}

// coverage is the fraction of the family's address space a prefix covers.
func coverage(p netip.Prefix) float64 { return math.Ldexp(1, -p.Bits()) }

// searchLE returns the largest i with starts[i] <= a; starts[0] is the
// family's first address, so there always is one.
func searchLE(starts []u128, a u128) int {
	lo, hi := 0, len(starts)
	for hi-lo > 1 {
		m := int(uint(lo+hi) >> 1)
		if a.less(starts[m]) {
			hi = m
		} else {
			lo = m
		}
	}
	return lo
}
