package config

import (
	"fmt"
	"time"
)

// Type is the kind of value a knob takes in the policy file.
type Type uint8

const (
	TypeBool       Type = iota // true | false
	TypeInt                    // a decimal count, "20000" or "20_000"
	TypeDuration               // a Go duration: "5s", "10m", "1h30m"
	TypeSize                   // bytes, with an optional unit: "65536", "64KiB", "64MiB", "1GB"
	TypeEnum                   // one word out of Choices
	TypeEthertypes             // a list of hex ethertypes: [0x88cc, 0x8809]
	TypePrefixes               // a list of addresses or prefixes: [192.0.2.1, 2001:db8::/48]
)

func (t Type) String() string {
	switch t {
	case TypeBool:
		return "bool"
	case TypeInt:
		return "integer"
	case TypeDuration:
		return "duration"
	case TypeSize:
		return "size"
	case TypeEnum:
		return "choice"
	case TypeEthertypes:
		return "ethertype list"
	case TypePrefixes:
		return "prefix list"
	}
	return "unknown"
}

// Knob describes one policy setting: its name in the file, the POLICY.md
// rule it tunes, its shipped default and its limits. The parser, Format,
// Validate and the UI all read this one table, so a limit is stated once.
type Knob struct {
	Name string
	Rule string // POLICY.md rule id, e.g. "F8"
	Type Type
	Unit string // what the number counts, for the UI ("bytes", "fragments/s")
	// Default is the shipped value as the policy file writes it.
	Default string
	// Min and Max bound numeric knobs inclusively (nanoseconds for
	// durations, bytes for sizes). For list knobs Max is the most entries.
	Min, Max int64
	// ZeroIsOff: 0 is accepted besides Min..Max and switches the rewrite off.
	ZeroIsOff bool
	// Choices are the words an enum knob accepts, in the order of the
	// Go constants they stand for.
	Choices []string
	// Shorthand knobs set other knobs (min_fragment_bytes sets the v4 and
	// v6 values); Format writes the knobs they set instead.
	Shorthand   bool
	Description string

	// Accessors into Policy, by Type. Numeric and enum knobs use getInt and
	// setInt; booleans getBool and setBool; lists are handled by Type.
	getInt  func(*Policy) int64
	setInt  func(*Policy, int64)
	getBool func(*Policy) bool
	setBool func(*Policy, bool)
}

// Range describes the accepted values for an operator: "2 to 8192",
// "100ms to 2m", "off (0) or 1 to 255", "at most 32 entries", or the choices.
func (k Knob) Range() string {
	switch k.Type {
	case TypeBool:
		return "true or false"
	case TypeEnum:
		s := ""
		for i, c := range k.Choices {
			if i > 0 {
				s += " | "
			}
			s += c
		}
		return s
	case TypeEthertypes, TypePrefixes:
		return fmt.Sprintf("at most %d entries", k.Max)
	}
	r := k.formatNumber(k.Min) + " to " + k.formatNumber(k.Max)
	if k.ZeroIsOff {
		r = "off (0) or " + r
	}
	return r
}

// Value returns the knob's current value in p, as the policy file writes it.
func (k Knob) Value(p *Policy) string {
	switch k.Type {
	case TypeBool:
		return formatBool(k.getBool(p))
	case TypeEnum:
		i := k.getInt(p)
		if i < 0 || i >= int64(len(k.Choices)) {
			return fmt.Sprintf("invalid(%d)", i)
		}
		return k.Choices[i]
	case TypeEthertypes:
		return formatEthertypes(p.ExtraEthertypes)
	case TypePrefixes:
		return formatPrefixes(p.NeverQuarantine)
	}
	return k.formatNumber(k.getInt(p))
}

func (k Knob) formatNumber(v int64) string {
	switch k.Type {
	case TypeDuration:
		return formatDuration(time.Duration(v))
	case TypeSize:
		return formatSize(v)
	}
	return formatInt(v)
}

// Knobs returns every knob in the order Format writes them.
func Knobs() []Knob {
	out := make([]Knob, len(knobTable))
	copy(out, knobTable)
	return out
}

// LookupKnob returns the knob with the given file name.
func LookupKnob(name string) (Knob, bool) {
	if i, ok := knobIndex[name]; ok {
		return knobTable[i], true
	}
	return Knob{}, false
}

var knobIndex = func() map[string]int {
	m := make(map[string]int, len(knobTable))
	for i, k := range knobTable {
		m[k.Name] = i
	}
	return m
}()

const (
	kib = 1 << 10
	mib = 1 << 20
	gib = 1 << 30
)

// maxCaptureBytes bounds capture_frames × capture_snap: the drop capture ring
// is allocated up front and must not crowd out the fragment budget.
const maxCaptureBytes = 256 * mib

// knobTable is the single statement of every knob. Limits are chosen so that
// any accepted value keeps the box working: memory knobs fit a small board,
// counts stay within the data structures' index types, and times stay within
// what an operator could mean.
var knobTable = []Knob{
	{
		Name: "ethertypes", Rule: "L2", Type: TypeEthertypes, Default: "[]", Max: 32,
		Description: "ethertypes allowed besides IPv4, IPv6, ARP and VLAN tags",
	},
	{
		Name: "pass_link_local", Rule: "L1", Type: TypeBool, Default: "true",
		Description: "pass link-control frames (LLC/STP, LLDP, 802.1X, LACP) to 01:80:c2:00:00:00–0f unchanged; IP, IPv6 and ARP to those addresses are judged like any other frame",
		getBool:     func(p *Policy) bool { return p.PassLinkLocal },
		setBool:     func(p *Policy, v bool) { p.PassLinkLocal = v },
	},
	{
		Name: "ip_options", Rule: "H3", Type: TypeEnum, Default: "no-source-route",
		Choices:     []string{IPOptionsNoSourceRoute: "no-source-route", IPOptionsDrop: "drop", IPOptionsAllow: "allow"},
		Description: "IPv4 options: drop every packet with options, drop source routes only, or allow well-formed options",
		getInt:      func(p *Policy) int64 { return int64(p.IPOptions) },
		setInt:      func(p *Policy, v int64) { p.IPOptions = IPOptions(v) },
	},
	{
		Name: "verify_checksums", Rule: "F10", Type: TypeEnum, Default: "reassembled",
		Choices:     []string{VerifyReassembled: "reassembled", VerifyAll: "all"},
		Description: "verify transport checksums of reassembled datagrams only, or of every packet",
		getInt:      func(p *Policy) int64 { return int64(p.VerifyChecksums) },
		setInt:      func(p *Policy, v int64) { p.VerifyChecksums = VerifyChecksums(v) },
	},
	{
		Name: "min_fragment_bytes", Rule: "F6", Type: TypeInt, Unit: "bytes", Default: "512 (IPv4), 1280 (IPv6)",
		Min: 0, Max: 9216, Shorthand: true,
		Description: "smallest IP packet size of a non-final fragment, for IPv4 and IPv6 alike (0 = no minimum)",
		getInt:      func(p *Policy) int64 { return int64(p.MinFragmentBytesV4) },
		setInt: func(p *Policy, v int64) {
			p.MinFragmentBytesV4 = int(v)
			p.MinFragmentBytesV6 = int(v)
		},
	},
	{
		Name: "min_fragment_bytes_v4", Rule: "F6", Type: TypeInt, Unit: "bytes", Default: "512",
		Min: 0, Max: 9216,
		Description: "smallest IPv4 packet size of a non-final fragment (0 = no minimum)",
		getInt:      func(p *Policy) int64 { return int64(p.MinFragmentBytesV4) },
		setInt:      func(p *Policy, v int64) { p.MinFragmentBytesV4 = int(v) },
	},
	{
		Name: "min_fragment_bytes_v6", Rule: "F6", Type: TypeInt, Unit: "bytes", Default: "1280",
		Min: 0, Max: 9216,
		Description: "smallest IPv6 packet size of a non-final fragment (0 = no minimum)",
		getInt:      func(p *Policy) int64 { return int64(p.MinFragmentBytesV6) },
		setInt:      func(p *Policy, v int64) { p.MinFragmentBytesV6 = int(v) },
	},
	{
		Name: "max_fragments", Rule: "F7", Type: TypeInt, Unit: "fragments", Default: "128",
		Min: 2, Max: 8192, // 65,535 bytes in 8-byte units cannot take more
		Description: "most fragments one datagram may have",
		getInt:      func(p *Policy) int64 { return int64(p.MaxFragments) },
		setInt:      func(p *Policy, v int64) { p.MaxFragments = int(v) },
	},
	{
		Name: "fragment_timeout", Rule: "F8", Type: TypeDuration, Default: "5s",
		Min: int64(100 * time.Millisecond), Max: int64(2 * time.Minute),
		Description: "time a datagram has to complete, from its first fragment",
		getInt:      func(p *Policy) int64 { return int64(p.FragmentTimeout) },
		setInt:      func(p *Policy, v int64) { p.FragmentTimeout = time.Duration(v) },
	},
	{
		Name: "fragment_memory", Rule: "F11", Type: TypeSize, Unit: "bytes", Default: "64MiB",
		Min: 1 * mib, Max: 4 * gib,
		Description: "memory for all buffered fragments, payload included",
		getInt:      func(p *Policy) int64 { return p.FragmentMemory },
		setInt:      func(p *Policy, v int64) { p.FragmentMemory = v },
	},
	{
		Name: "per_source_floor", Rule: "F11", Type: TypeSize, Unit: "bytes", Default: "1MiB",
		Min: 64 * kib, Max: 1 * gib,
		Description: "fragment memory every source may hold however many sources are active (at most fragment_memory)",
		getInt:      func(p *Policy) int64 { return p.PerSourceFloor },
		setInt:      func(p *Policy, v int64) { p.PerSourceFloor = v },
	},
	{
		Name: "fragment_rate", Rule: "F11", Type: TypeInt, Unit: "fragments/s", Default: "20000",
		Min: 1, Max: 10_000_000,
		Description: "fragments per second one source may send (token bucket rate)",
		getInt:      func(p *Policy) int64 { return int64(p.FragmentRate) },
		setInt:      func(p *Policy, v int64) { p.FragmentRate = int(v) },
	},
	{
		Name: "fragment_burst", Rule: "F11", Type: TypeInt, Unit: "fragments", Default: "2000",
		Min: 1, Max: 10_000_000,
		Description: "fragments one source may send at once above its rate (token bucket size)",
		getInt:      func(p *Policy) int64 { return int64(p.FragmentBurst) },
		setInt:      func(p *Policy, v int64) { p.FragmentBurst = int(v) },
	},
	{
		Name: "min_ttl", Rule: "T3", Type: TypeInt, Unit: "hops", Default: "0",
		Min: 1, Max: 255, ZeroIsOff: true,
		Description: "raise the IPv4 TTL and IPv6 hop limit to at least this (0 = off)",
		getInt:      func(p *Policy) int64 { return int64(p.MinTTL) },
		setInt:      func(p *Policy, v int64) { p.MinTTL = uint8(v) },
	},
	{
		Name: "max_mss", Rule: "T3", Type: TypeInt, Unit: "bytes", Default: "0",
		Min: 88, Max: 65495, ZeroIsOff: true, // 88 is Linux's TCP_MIN_MSS; 65495 fills a 64 KiB packet
		Description: "clamp the MSS option of TCP SYNs to at most this (0 = off)",
		getInt:      func(p *Policy) int64 { return int64(p.MaxMSS) },
		setInt:      func(p *Policy, v int64) { p.MaxMSS = uint16(v) },
	},
	{
		Name: "clear_df", Rule: "T3", Type: TypeBool, Default: "false",
		Description: "clear the IPv4 don't-fragment bit",
		getBool:     func(p *Policy) bool { return p.ClearDF },
		setBool:     func(p *Policy, v bool) { p.ClearDF = v },
	},
	{
		Name: "random_ip_id", Rule: "T3", Type: TypeBool, Default: "false",
		Description: "replace the IPv4 identification of unfragmented packets with a random one",
		getBool:     func(p *Policy) bool { return p.RandomIPID },
		setBool:     func(p *Policy, v bool) { p.RandomIPID = v },
	},
	{
		Name: "quarantine_threshold", Rule: "Q1", Type: TypeInt, Unit: "violations", Default: "2000",
		Min: 1, Max: 10_000_000,
		Description: "a source with more violations than this within quarantine_window is quarantined",
		getInt:      func(p *Policy) int64 { return int64(p.QuarantineThreshold) },
		setInt:      func(p *Policy, v int64) { p.QuarantineThreshold = int(v) },
	},
	{
		Name: "quarantine_window", Rule: "Q1", Type: TypeDuration, Default: "10s",
		Min: int64(time.Second), Max: int64(time.Hour),
		Description: "sliding window over which violations are counted",
		getInt:      func(p *Policy) int64 { return int64(p.QuarantineWindow) },
		setInt:      func(p *Policy, v int64) { p.QuarantineWindow = time.Duration(v) },
	},
	{
		Name: "quarantine_time", Rule: "Q1", Type: TypeDuration, Default: "10m",
		Min: int64(time.Second), Max: int64(7 * 24 * time.Hour),
		Description: "length of a first quarantine; it doubles for each repeat offence",
		getInt:      func(p *Policy) int64 { return int64(p.QuarantineTime) },
		setInt:      func(p *Policy, v int64) { p.QuarantineTime = time.Duration(v) },
	},
	{
		Name: "quarantine_max", Rule: "Q1", Type: TypeDuration, Default: "24h",
		Min: int64(time.Second), Max: int64(30 * 24 * time.Hour),
		Description: "longest quarantine, for repeat offenders (at least quarantine_time)",
		getInt:      func(p *Policy) int64 { return int64(p.QuarantineMax) },
		setInt:      func(p *Policy, v int64) { p.QuarantineMax = time.Duration(v) },
	},
	{
		Name: "never_quarantine", Rule: "Q2", Type: TypePrefixes, Default: "[]", Max: 1024,
		Description: "addresses and prefixes that are never quarantined (their violations are still dropped and counted)",
	},
	{
		Name: "max_sources", Rule: "Q4", Type: TypeInt, Unit: "sources", Default: "65536",
		Min: 64, Max: 1 << 24,
		Description: "sources tracked for accounting and quarantine; the least recently seen make room",
		getInt:      func(p *Policy) int64 { return int64(p.MaxSources) },
		setInt:      func(p *Policy, v int64) { p.MaxSources = int(v) },
	},
	{
		Name: "max_datagrams", Rule: "Q4", Type: TypeInt, Unit: "datagrams", Default: "16384",
		Min: 16, Max: 1 << 20,
		Description: "datagrams in reassembly at once",
		getInt:      func(p *Policy) int64 { return int64(p.MaxDatagrams) },
		setInt:      func(p *Policy, v int64) { p.MaxDatagrams = int(v) },
	},
	{
		Name: "max_connections", Rule: "FW3", Type: TypeInt, Unit: "connections", Default: "65536",
		Min: 1024, Max: 1 << 24,
		Description: "size of the connection table",
		getInt:      func(p *Policy) int64 { return int64(p.MaxConnections) },
		setInt:      func(p *Policy, v int64) { p.MaxConnections = int(v) },
	},
	{
		Name: "conn_rate", Rule: "FW3", Type: TypeInt, Unit: "connections/s", Default: "2000",
		Min: 1, Max: 10_000_000,
		Description: "new connections per second one source may open (token bucket rate)",
		getInt:      func(p *Policy) int64 { return int64(p.ConnRate) },
		setInt:      func(p *Policy, v int64) { p.ConnRate = int(v) },
	},
	{
		Name: "conn_burst", Rule: "FW3", Type: TypeInt, Unit: "connections", Default: "4000",
		Min: 1, Max: 10_000_000,
		Description: "new connections one source may open at once above its rate (token bucket size)",
		getInt:      func(p *Policy) int64 { return int64(p.ConnBurst) },
		setInt:      func(p *Policy, v int64) { p.ConnBurst = int(v) },
	},
	{
		Name: "capture_frames", Rule: "Q3", Type: TypeInt, Unit: "frames", Default: "4096",
		Min: 0, Max: 65536,
		Description: "dropped frames kept for download as pcapng (0 = no capture)",
		getInt:      func(p *Policy) int64 { return int64(p.CaptureFrames) },
		setInt:      func(p *Policy, v int64) { p.CaptureFrames = int(v) },
	},
	{
		Name: "capture_snap", Rule: "Q3", Type: TypeInt, Unit: "bytes", Default: "1600",
		Min: 64, Max: 9216,
		Description: "bytes kept of each dropped frame (capture_frames × capture_snap at most 256MiB)",
		getInt:      func(p *Policy) int64 { return int64(p.CaptureSnap) },
		setInt:      func(p *Policy, v int64) { p.CaptureSnap = int(v) },
	},
}
