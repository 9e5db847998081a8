package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The value readers return a message without position; the caller knows
// where the token sits and wraps it into an *Error.

func parseBool(s string) (bool, string) {
	switch s {
	case "true":
		return true, ""
	case "false":
		return false, ""
	}
	return false, fmt.Sprintf("want true or false, found %q", s)
}

func formatBool(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

// parseInt reads a plain decimal count. Underscores may group digits
// ("20_000"); signs, hex and octal are refused so that "010" means ten.
func parseInt(s string) (int64, string) {
	if !isDecimal(s) {
		return 0, fmt.Sprintf("want a whole number like 2000, found %q", s)
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(s, "_", ""), 10, 64)
	if err != nil {
		return 0, fmt.Sprintf("number %q is too large", s)
	}
	return v, ""
}

// isDecimal reports whether s is digits, optionally grouped by single
// underscores between digits.
func isDecimal(s string) bool {
	if s == "" || s[0] == '_' || s[len(s)-1] == '_' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' {
			if s[i-1] == '_' {
				return false
			}
			continue
		}
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func formatInt(v int64) string { return strconv.FormatInt(v, 10) }

func parseDuration(s string) (int64, string) {
	d, err := time.ParseDuration(s)
	if err != nil || !strings.ContainsAny(s, "nuµmsh") {
		return 0, fmt.Sprintf("want a duration like 5s, found %q", s)
	}
	return int64(d), ""
}

// formatDuration writes d in the largest unit that divides it exactly
// ("10m" rather than Go's "10m0s"), so the file reads as a person writes it.
func formatDuration(d time.Duration) string {
	units := []struct {
		name string
		d    time.Duration
	}{{"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}, {"us", time.Microsecond}}
	if d == 0 {
		return "0s"
	}
	for _, u := range units {
		if d%u.d == 0 {
			return strconv.FormatInt(int64(d/u.d), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(d), 10) + "ns"
}

var sizeUnits = []struct {
	name string
	mult int64
}{
	// Longest names first so "KiB" is not read as "K" + "iB".
	{"kib", kib}, {"mib", mib}, {"gib", gib},
	{"kb", 1000}, {"mb", 1000 * 1000}, {"gb", 1000 * 1000 * 1000},
	{"b", 1},
}

// parseSize reads a byte count with an optional unit: IEC (KiB, MiB, GiB),
// SI (kB, MB, GB) or B. Units are case-insensitive.
func parseSize(s string) (int64, string) {
	bad := fmt.Sprintf("want a size like 64MiB, found %q", s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '_') {
		i++
	}
	digits, unit := s[:i], strings.ToLower(s[i:])
	if !isDecimal(digits) {
		return 0, bad
	}
	mult := int64(1)
	if unit != "" {
		found := false
		for _, u := range sizeUnits {
			if unit == u.name {
				mult, found = u.mult, true
				break
			}
		}
		if !found {
			return 0, bad
		}
	}
	v, err := strconv.ParseInt(strings.ReplaceAll(digits, "_", ""), 10, 64)
	if err != nil || v > (1<<62)/mult {
		return 0, fmt.Sprintf("size %q is too large", s)
	}
	return v * mult, ""
}

// formatSize writes v in the largest IEC unit that divides it exactly.
func formatSize(v int64) string {
	switch {
	case v == 0:
		return "0"
	case v%gib == 0:
		return strconv.FormatInt(v/gib, 10) + "GiB"
	case v%mib == 0:
		return strconv.FormatInt(v/mib, 10) + "MiB"
	case v%kib == 0:
		return strconv.FormatInt(v/kib, 10) + "KiB"
	}
	return strconv.FormatInt(v, 10)
}

// ethertypes that L2 always allows; listing them is a mistake worth naming.
var builtinEthertypes = map[uint16]string{
	0x0800: "IPv4", 0x86dd: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q VLAN", 0x88a8: "802.1ad VLAN",
}

func parseEthertype(s string) (uint16, string) {
	hex, ok := strings.CutPrefix(strings.ToLower(s), "0x")
	if !ok || len(hex) == 0 || len(hex) > 4 {
		return 0, fmt.Sprintf("want a hex ethertype like 0x88cc, found %q", s)
	}
	v, err := strconv.ParseUint(hex, 16, 16)
	if err != nil {
		return 0, fmt.Sprintf("want a hex ethertype like 0x88cc, found %q", s)
	}
	if v < 0x0600 {
		return 0, fmt.Sprintf("%s is an 802.3 length, not an ethertype (ethertypes start at 0x0600)", s)
	}
	if name, ok := builtinEthertypes[uint16(v)]; ok {
		return 0, fmt.Sprintf("%s (%s) is always allowed; list only extra ethertypes", s, name)
	}
	return uint16(v), ""
}

func formatEthertypes(ts []uint16) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = fmt.Sprintf("0x%04x", t)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// parsePrefix reads an address (taken as a single-address prefix) or a
// prefix. Host bits are cleared: "10.1.2.3/8" means 10.0.0.0/8.
func parsePrefix(s string) (netip.Prefix, string) {
	bad := fmt.Sprintf("want an address or prefix like 192.0.2.1 or 2001:db8::/48, found %q", s)
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, bad
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, bad
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Sprintf("%q: a zone has no meaning here", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if p.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("%q: a zone has no meaning here", s)
	}
	if p.Addr().Is4In6() {
		// Sources are keyed by their unmapped address; a mapped prefix
		// would silently never match.
		return netip.Prefix{}, fmt.Sprintf("%q: write IPv4-mapped addresses as plain IPv4", s)
	}
	return p.Masked(), ""
}

func formatPrefixes(ps []netip.Prefix) string {
	parts := make([]string, len(ps))
	for i, p := range ps {
		if p.Bits() == p.Addr().BitLen() {
			parts[i] = p.Addr().String()
		} else {
			parts[i] = p.String()
		}
	}
	return "[" + strings.Join(parts, ", ") + "]"
}
