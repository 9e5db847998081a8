package config

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestTableDefaultsMatchDefault(t *testing.T) {
	p := Default()
	for _, k := range Knobs() {
		if k.Shorthand {
			continue
		}
		if got := k.Value(&p); got != k.Default {
			t.Errorf("%s: table says default %q, Default() has %q", k.Name, k.Default, got)
		}
		if k.Rule == "" || k.Description == "" {
			t.Errorf("%s: missing rule id or description", k.Name)
		}
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("Default() does not validate: %v", err)
	}
}

func TestParseEmptyIsDefault(t *testing.T) {
	for _, src := range []string{"", "\n\n", "# only a comment\n   # indented comment\n\t\n"} {
		p, err := Parse([]byte(src))
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if !reflect.DeepEqual(p, Default()) {
			t.Errorf("Parse(%q) = %+v, want Default()", src, p)
		}
	}
}

// allKnobsFile sets every knob to a value other than its default.
const allKnobsFile = `# a policy that changes everything
ethertypes: [0x88cc, 0x8809]   # LLDP, slow protocols
pass_link_local: false
ip_options: drop
verify_checksums: all
min_fragment_bytes_v4: 576
min_fragment_bytes_v6: 1232
max_fragments: 64
fragment_timeout: 2500ms
fragment_memory: 128MiB
per_source_floor: 512KiB
fragment_rate: 10_000
fragment_burst: 500
min_ttl: 64
max_mss: 1400
clear_df: true
random_ip_id: true
quarantine_threshold: 100
quarantine_window: 30s
quarantine_time: 1m
quarantine_max: 2h
never_quarantine: [192.0.2.1, 198.51.100.0/24, 2001:db8::/48, 2001:db8:1::53]
max_sources: 1024
max_datagrams: 2048
max_connections: 4096
conn_rate: 100
conn_burst: 200
capture_frames: 128
capture_snap: 256
`

func TestParseEveryKnob(t *testing.T) {
	p, err := Parse([]byte(allKnobsFile))
	if err != nil {
		t.Fatal(err)
	}
	want := Policy{
		ExtraEthertypes:     []uint16{0x88cc, 0x8809},
		PassLinkLocal:       false,
		IPOptions:           IPOptionsDrop,
		VerifyChecksums:     VerifyAll,
		MinFragmentBytesV4:  576,
		MinFragmentBytesV6:  1232,
		MaxFragments:        64,
		FragmentTimeout:     2500 * time.Millisecond,
		FragmentMemory:      128 << 20,
		PerSourceFloor:      512 << 10,
		FragmentRate:        10000,
		FragmentBurst:       500,
		MinTTL:              64,
		MaxMSS:              1400,
		ClearDF:             true,
		RandomIPID:          true,
		QuarantineThreshold: 100,
		QuarantineWindow:    30 * time.Second,
		QuarantineTime:      time.Minute,
		QuarantineMax:       2 * time.Hour,
		NeverQuarantine: []netip.Prefix{
			netip.MustParsePrefix("192.0.2.1/32"),
			netip.MustParsePrefix("198.51.100.0/24"),
			netip.MustParsePrefix("2001:db8::/48"),
			netip.MustParsePrefix("2001:db8:1::53/128"),
		},
		MaxSources:     1024,
		MaxDatagrams:   2048,
		MaxConnections: 4096,
		ConnRate:       100,
		ConnBurst:      200,
		CaptureFrames:  128,
		CaptureSnap:    256,
	}
	if !reflect.DeepEqual(p, want) {
		t.Fatalf("got  %+v\nwant %+v", p, want)
	}
	// Every field of Policy is reachable from the file: none kept its default.
	got, def := reflect.ValueOf(p), reflect.ValueOf(Default())
	for i := 0; i < got.NumField(); i++ {
		if reflect.DeepEqual(got.Field(i).Interface(), def.Field(i).Interface()) {
			t.Errorf("field %s kept its default: no knob sets it", got.Type().Field(i).Name)
		}
	}
}

func TestMinFragmentBytesShorthand(t *testing.T) {
	for _, src := range []string{
		"min_fragment_bytes: 600\nmin_fragment_bytes_v6: 1300\n",
		"min_fragment_bytes_v6: 1300\nmin_fragment_bytes: 600\n",
	} {
		p, err := Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if p.MinFragmentBytesV4 != 600 || p.MinFragmentBytesV6 != 1300 {
			t.Errorf("Parse(%q): v4 %d v6 %d, want 600 and 1300 (the specific knob wins)", src, p.MinFragmentBytesV4, p.MinFragmentBytesV6)
		}
	}
	p, err := Parse([]byte("min_fragment_bytes: 0"))
	if err != nil {
		t.Fatal(err)
	}
	if p.MinFragmentBytesV4 != 0 || p.MinFragmentBytesV6 != 0 {
		t.Errorf("min_fragment_bytes: 0 left v4 %d v6 %d", p.MinFragmentBytesV4, p.MinFragmentBytesV6)
	}
}

func TestParseValueForms(t *testing.T) {
	cases := []struct {
		src   string
		check func(Policy) bool
	}{
		{"fragment_memory: 1048576", func(p Policy) bool { return p.FragmentMemory == 1<<20 }},
		{"fragment_memory: 2GiB", func(p Policy) bool { return p.FragmentMemory == 2<<30 }},
		{"fragment_memory: 100MB", func(p Policy) bool { return p.FragmentMemory == 100_000_000 }},
		{"fragment_memory: 8mib", func(p Policy) bool { return p.FragmentMemory == 8<<20 }},
		{"per_source_floor: 65536B", func(p Policy) bool { return p.PerSourceFloor == 65536 }},
		{"fragment_timeout: 1m30s", func(p Policy) bool { return p.FragmentTimeout == 90*time.Second }},
		{"quarantine_time: 1h30m", func(p Policy) bool { return p.QuarantineTime == 90*time.Minute }},
		{"ethertypes: []", func(p Policy) bool { return p.ExtraEthertypes == nil }},
		{"ethertypes: [ 0x88CC ]", func(p Policy) bool { return reflect.DeepEqual(p.ExtraEthertypes, []uint16{0x88cc}) }},
		{"never_quarantine: [10.1.2.3/8]", func(p Policy) bool {
			return reflect.DeepEqual(p.NeverQuarantine, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")})
		}},
		{"  max_fragments : 16  ", func(p Policy) bool { return p.MaxFragments == 16 }},
		{"max_fragments: 16\r\nmin_ttl: 0\r\n", func(p Policy) bool { return p.MaxFragments == 16 }},
		{"max_fragments:\t16#no space before the comment", func(p Policy) bool { return p.MaxFragments == 16 }},
		{"max_mss: 0", func(p Policy) bool { return p.MaxMSS == 0 }},
		{"capture_frames: 0", func(p Policy) bool { return p.CaptureFrames == 0 }},
	}
	for _, c := range cases {
		p, err := Parse([]byte(c.src))
		if err != nil {
			t.Errorf("Parse(%q): %v", c.src, err)
			continue
		}
		if !c.check(p) {
			t.Errorf("Parse(%q) = %+v: wrong value", c.src, p)
		}
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"# header\n\nmax_fragments: 8\nfragment_timeout:  five\n",
			`line 4, column 20: fragment_timeout: want a duration like 5s, found "five"`},
		{"fragment_timeout: 5", `line 1, column 19: fragment_timeout: want a duration like 5s, found "5"`},
		{"fragment_timeout: 10m", `line 1, column 19: fragment_timeout: 10m is out of range (100ms to 2m)`},
		{"fragment_timeout: -5s", `line 1, column 19: fragment_timeout: -5s is out of range (100ms to 2m)`},
		{"fragmnt_timeout: 5s", `line 1, column 1: unknown knob "fragmnt_timeout" (did you mean "fragment_timeout"?)`},
		{"colour: blue", `line 1, column 1: unknown knob "colour"`},
		{"max_fragments: 8\nmin_ttl: 3\n  max_fragments: 9", `line 3, column 3: max_fragments: set twice (first on line 1)`},
		{"max_fragments 8", "line 1, column 1: want `knob: value`, found \"max_fragments 8\""},
		{"max_fragments:   # nothing", `line 1, column 15: max_fragments: missing value (2 to 8192)`},
		{": 8", `line 1, column 1: missing knob name before ':'`},
		{"max_fragments: 1", `line 1, column 16: max_fragments: 1 is out of range (2 to 8192)`},
		{"max_fragments: 0x10", `line 1, column 16: max_fragments: want a whole number like 2000, found "0x10"`},
		{"max_fragments: -3", `line 1, column 16: max_fragments: want a whole number like 2000, found "-3"`},
		{"max_fragments: 1__0", `line 1, column 16: max_fragments: want a whole number like 2000, found "1__0"`},
		{"max_fragments: 99999999999999999999", `line 1, column 16: max_fragments: number "99999999999999999999" is too large`},
		{"min_ttl: 256", `line 1, column 10: min_ttl: 256 is out of range (off (0) or 1 to 255)`},
		{"max_mss: 40", `line 1, column 10: max_mss: 40 is out of range (off (0) or 88 to 65495)`},
		{"pass_link_local: yes", `line 1, column 18: pass_link_local: want true or false, found "yes"`},
		{"ip_options: strict", `line 1, column 13: ip_options: want no-source-route | drop | allow, found "strict"`},
		{"fragment_memory: 64 MiB", `line 1, column 18: fragment_memory: want a size like 64MiB, found "64 MiB"`},
		{"fragment_memory: 64Mb/s", `line 1, column 18: fragment_memory: want a size like 64MiB, found "64Mb/s"`},
		{"fragment_memory: 8GiB", `line 1, column 18: fragment_memory: 8GiB is out of range (1MiB to 4GiB)`},
		{"fragment_memory: 99999999999GiB", `line 1, column 18: fragment_memory: size "99999999999GiB" is too large`},
		{"ethertypes: 0x88cc", `line 1, column 13: ethertypes: want a list like [0x88cc, 0x8809], found "0x88cc"`},
		{"ethertypes: [0x88cc, 88cc]", `line 1, column 22: ethertypes: want a hex ethertype like 0x88cc, found "88cc"`},
		{"ethertypes: [0x88cc,, 0x8809]", `line 1, column 21: ethertypes: empty list entry`},
		{"ethertypes: [0x88cc, 0x88cc]", `line 1, column 22: ethertypes: 0x88cc listed twice`},
		{"ethertypes: [0x0800]", `line 1, column 14: ethertypes: 0x0800 (IPv4) is always allowed; list only extra ethertypes`},
		{"ethertypes: [0x05dc]", `line 1, column 14: ethertypes: 0x05dc is an 802.3 length, not an ethertype (ethertypes start at 0x0600)`},
		{"never_quarantine: [192.0.2.1, gateway]", `line 1, column 31: never_quarantine: want an address or prefix like 192.0.2.1 or 2001:db8::/48, found "gateway"`},
		{"never_quarantine: [::ffff:192.0.2.1]", `line 1, column 20: never_quarantine: "::ffff:192.0.2.1": write IPv4-mapped addresses as plain IPv4`},
		{"never_quarantine: [fe80::1%eth0]", `line 1, column 20: never_quarantine: "fe80::1%eth0": a zone has no meaning here`},
		{"per_source_floor: 128MiB", `line 1, column 19: per_source_floor: 128MiB is more than fragment_memory (64MiB)`},
		{"per_source_floor: 8MiB\nfragment_memory: 4MiB", `line 2, column 18: per_source_floor: 8MiB is more than fragment_memory (4MiB)`},
		{"quarantine_max: 1m", `line 1, column 17: quarantine_max: 1m is less than quarantine_time (10m)`},
		{"capture_frames: 65536\ncapture_snap: 9216", "line 2, column 15: capture_frames: 65536 frames of 9216 bytes need 576MiB; capture_frames × capture_snap may be at most 256MiB"},
		{"max_fragments: 8 \x00", `line 1, column 18: unexpected control character U+0000`},
		{"min_ttl: 1\nmax_fragments: \xff8", `line 2, column 16: invalid UTF-8`},
		{"never_quarantine: [\"höst\", x]", `line 1, column 20: never_quarantine: want an address or prefix like 192.0.2.1 or 2001:db8::/48, found "\"höst\""`},
		{"# é\nmax_fragments: é", `line 2, column 16: max_fragments: want a whole number like 2000, found "é"`},
	}
	for _, c := range cases {
		p, err := Parse([]byte(c.src))
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", c.src, c.want)
			continue
		}
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q): error %T, want *Error", c.src, err)
		}
		if err.Error() != c.want {
			t.Errorf("Parse(%q):\n got  %s\n want %s", c.src, err, c.want)
		}
		if !reflect.DeepEqual(p, Default()) {
			t.Errorf("Parse(%q) returned a half-read policy on error", c.src)
		}
	}
}

func TestParseRejectsHugeFile(t *testing.T) {
	src := []byte(strings.Repeat("# padding\n", maxFileBytes/10+1))
	if _, err := Parse(src); err == nil {
		t.Fatal("a file over the size limit was accepted")
	}
}

func TestValidate(t *testing.T) {
	p := Default()
	p.MaxFragments = 0
	if err := p.Validate(); err == nil || err.Error() != "max_fragments: 0 is out of range (2 to 8192)" {
		t.Errorf("Validate: %v", err)
	}
	p = Default()
	p.NeverQuarantine = []netip.Prefix{netip.MustParsePrefix("10.1.2.3/8")}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "host bits") {
		t.Errorf("Validate of unmasked prefix: %v", err)
	}
	p = Default()
	p.ExtraEthertypes = []uint16{0x86dd}
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "always allowed") {
		t.Errorf("Validate of built-in ethertype: %v", err)
	}
	p = Default()
	p.IPOptions = 7
	if err := p.Validate(); err == nil {
		t.Error("Validate accepted ip_options 7")
	}
}

func TestLookupKnobAndRange(t *testing.T) {
	k, ok := LookupKnob("fragment_memory")
	if !ok || k.Rule != "F11" || k.Type != TypeSize || k.Range() != "1MiB to 4GiB" {
		t.Errorf("LookupKnob(fragment_memory) = %+v, %v", k, ok)
	}
	if _, ok := LookupKnob("nope"); ok {
		t.Error("LookupKnob found an unknown knob")
	}
	// Knobs returns a copy: changing it cannot change the parser's limits.
	ks := Knobs()
	ks[0].Max = 0
	if k, _ := LookupKnob(ks[0].Name); k.Max == 0 {
		t.Error("Knobs() shares its table with the parser")
	}
}

func TestSet(t *testing.T) {
	p := Default()
	if err := p.Set("fragment_timeout", " 3s "); err != nil || p.FragmentTimeout != 3*time.Second {
		t.Fatalf("Set: %v, %v", err, p.FragmentTimeout)
	}
	if err := p.Set("never_quarantine", "[192.0.2.1]"); err != nil || len(p.NeverQuarantine) != 1 {
		t.Fatalf("Set list: %v, %v", err, p.NeverQuarantine)
	}
	before := p.clone()
	for _, c := range []struct{ name, value, want string }{
		{"fragment_timeout", "five", `fragment_timeout: want a duration like 5s, found "five"`},
		{"nope", "1", `unknown knob "nope"`},
		{"max_fragments", "", `max_fragments: missing value (2 to 8192)`},
		{"per_source_floor", "1GiB", `per_source_floor: 1GiB is more than fragment_memory (64MiB)`},
		{"never_quarantine", "[192.0.2.1, x]", `never_quarantine: want an address or prefix like 192.0.2.1 or 2001:db8::/48, found "x"`},
	} {
		err := p.Set(c.name, c.value)
		if err == nil || err.Error() != c.want {
			t.Errorf("Set(%s, %q) = %v, want %s", c.name, c.value, err, c.want)
		}
	}
	if !reflect.DeepEqual(p, before) {
		t.Error("a failed Set changed the policy")
	}
}
