package source

import (
	"net/netip"
	"testing"

	"github.com/rackwall/rackwall/dataplane/packet"
)

func TestKeysOfFrame(t *testing.T) {
	f := packet.Frame{Src: netip.MustParseAddr("2001:db8:1:2:aa::7"), SrcMAC: [6]byte{2, 0, 0, 0, 0, 1}}
	keys, n := Keys(&f, packet.In)
	if n != 1 || keys[0].String() != "2001:db8:1:2::/64" {
		t.Fatalf("uplink frame: %d keys, first %v", n, keys[0])
	}
	keys, n = Keys(&f, packet.Out)
	if n != 2 || keys[1].String() != "mac 02:00:00:00:00:01" {
		t.Fatalf("rack frame: %d keys, second %v", n, keys[1])
	}
	// A rack host that changes its IPv6 address within its /64 stays one source.
	g := f
	g.Src = netip.MustParseAddr("2001:db8:1:2::99")
	if k2, _ := Keys(&g, packet.Out); k2 != keys {
		t.Fatalf("same /64 and MAC gave different keys: %v vs %v", k2, keys)
	}
}

func TestParseRoundTrip(t *testing.T) {
	for _, s := range []string{"192.0.2.7", "2001:db8:1:2::/64", "mac 02:00:00:00:00:01"} {
		k, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if k.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, k)
		}
	}
	for in, want := range map[string]string{
		"mac-02:00:00:00:00:01": "mac 02:00:00:00:00:01",
		"02:00:00:00:00:01":     "mac 02:00:00:00:00:01",
		"2001:db8:1:2::5":       "2001:db8:1:2::/64",
		"::ffff:192.0.2.7":      "192.0.2.7",
		"192.0.2.7/32":          "192.0.2.7",
	} {
		k, err := Parse(in)
		if err != nil || k.String() != want {
			t.Errorf("Parse(%q) = %v, %v; want %s", in, k, err, want)
		}
	}
	for _, bad := range []string{"", "10.0.0.0/8", "2001:db8::/48", "nonsense", "mac 02:00"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}

// FuzzParse: whatever Parse accepts prints as text that parses back to the
// same key.
func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		k, err := Parse(s)
		if err != nil {
			return
		}
		k2, err := Parse(k.String())
		if err != nil || k2 != k {
			t.Fatalf("%q -> %v -> %v, %v", s, k, k2, err)
		}
	})
}
