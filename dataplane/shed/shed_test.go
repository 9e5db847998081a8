package shed

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/source"
)

// run executes prog on frame the way the kernel does and returns the
// snap length it asks for.
func run(t *testing.T, prog []bpf.RawInstruction, frame []byte) int {
	t.Helper()
	if prog == nil {
		return len(frame) // no filter
	}
	insns, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	vm, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(frame)
	if err != nil {
		t.Fatal(err)
	}
	return min(n, len(frame)) // the kernel keeps at most the whole frame
}

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0x0a}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0x0b}
)

// frame builds an Ethernet frame from src with an IP header of the given
// source address and payload bytes after it; tags are in-frame VLAN tags.
func frame(src [6]byte, ip netip.Addr, payload int, tags ...uint16) []byte {
	b := make([]byte, 0, 128+payload)
	b = append(b, 0x02, 0, 0, 0, 0, 0x01)
	b = append(b, src[:]...)
	for _, tpid := range tags {
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, 42)
	}
	if ip.Is4() {
		b = binary.BigEndian.AppendUint16(b, etherIPv4)
		h := make([]byte, 20)
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], uint16(20+payload))
		h[8], h[9] = 64, 17
		a := ip.As4()
		copy(h[12:], a[:])
		copy(h[16:], []byte{10, 0, 0, 1})
		b = append(b, h...)
	} else {
		b = binary.BigEndian.AppendUint16(b, etherIPv6)
		h := make([]byte, 40)
		h[0] = 0x60
		binary.BigEndian.PutUint16(h[4:], uint16(payload))
		h[6], h[7] = 17, 64
		a := ip.As16()
		copy(h[8:], a[:])
		h[24], h[39] = 0x20, 1
		b = append(b, h...)
	}
	return append(b, make([]byte, payload)...)
}

func TestProgramCutsQuarantinedSources(t *testing.T) {
	keys := []source.Key{
		source.FromAddr(netip.MustParseAddr("192.0.2.7")),
		source.FromAddr(netip.MustParseAddr("2001:db8:1:2::99")),
		source.FromMAC(macB),
	}
	rack, used, err := Program(keys, true, nil)
	if err != nil || used != len(keys) {
		t.Fatalf("Program: used %d, %v", used, err)
	}
	uplink, _, err := Program(keys, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	v4 := netip.MustParseAddr("192.0.2.7")
	other4 := netip.MustParseAddr("192.0.2.8")
	sameNet6 := netip.MustParseAddr("2001:db8:1:2:abcd::1")
	other6 := netip.MustParseAddr("2001:db8:1:3::99")
	cases := []struct {
		name         string
		frame        []byte
		rack, uplink bool // cut on that port
	}{
		{"IPv4 source", frame(macA, v4, 1200), true, true},
		{"other IPv4", frame(macA, other4, 1200), false, false},
		{"IPv6 same /64", frame(macA, sameNet6, 1200), true, true},
		{"IPv6 other /64", frame(macA, other6, 1200), false, false},
		{"quarantined MAC, any IP", frame(macB, other4, 1200), true, false},
		{"quarantined MAC, IPv6", frame(macB, other6, 100), true, false},
		{"802.1Q in frame", frame(macA, v4, 1200, etherVLAN), true, true},
		{"802.1ad in frame", frame(macA, sameNet6, 1200, etherQinQ), true, true},
		{"two tags in frame: left to user space", frame(macA, v4, 1200, etherQinQ, etherVLAN), false, false},
	}
	for _, c := range cases {
		for _, port := range []struct {
			name string
			prog []bpf.RawInstruction
			cut  bool
		}{{"rack", rack, c.rack}, {"uplink", uplink, c.uplink}} {
			got := run(t, port.prog, c.frame)
			want := len(c.frame)
			if port.cut {
				want = Snap
			}
			if got != want {
				t.Errorf("%s on %s: snap %d, want %d", c.name, port.name, got, want)
			}
		}
	}
}

// Short and odd frames must never be dropped by the filter (a failed load
// would drop silently): they reach user space whole and are judged there.
func TestProgramKeepsShortFramesWhole(t *testing.T) {
	prog, _, err := Program([]source.Key{
		source.FromAddr(netip.MustParseAddr("192.0.2.7")),
		source.FromAddr(netip.MustParseAddr("2001:db8::1")),
		source.FromMAC(macB),
	}, true, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:5::/48")})
	if err != nil {
		t.Fatal(err)
	}
	full4 := frame(macA, netip.MustParseAddr("192.0.2.7"), 0)
	full6 := frame(macA, netip.MustParseAddr("2001:db8::1"), 0)
	tagged := frame(macA, netip.MustParseAddr("192.0.2.7"), 0, etherVLAN)
	for _, f := range [][]byte{full4, full6, tagged} {
		for n := 0; n < len(f); n++ {
			short := f[:n]
			got := run(t, prog, short)
			cut := got == Snap && n > Snap
			if got != n && !cut {
				t.Fatalf("%d-byte prefix of a %d-byte frame: snap %d", n, len(f), got)
			}
		}
	}
	if got := run(t, prog, full4[:ethHeader+ipv4MinLen-1]); got != ethHeader+ipv4MinLen-1 {
		t.Errorf("IPv4 header cut short: snap %d", got)
	}
}

// With nothing to cut there is no program: the port runs without a
// filter.
func TestProgramWithoutKeysIsEmpty(t *testing.T) {
	prog, used, err := Program(nil, true, nil)
	if err != nil || used != 0 || prog != nil {
		t.Fatal(prog, used, err)
	}
	// A MAC key on the uplink matches nothing there either.
	prog, used, err = Program([]source.Key{source.FromMAC(macB)}, false, nil)
	if err != nil || used != 1 || prog != nil {
		t.Fatal(prog, used, err)
	}
}

// never_quarantine wins over a quarantined MAC: the protected host's
// frames pass whole, its other frames are cut (Q2).
func TestProgramSparesProtectedSources(t *testing.T) {
	protect := []netip.Prefix{netip.MustParsePrefix("192.0.2.0/28"), netip.MustParsePrefix("2001:db8:0:53::/64"),
		netip.MustParsePrefix("2001:db8:1::1/128"), netip.MustParsePrefix("2001:dc0::/28")}
	prog, used, err := Program([]source.Key{source.FromMAC(macB)}, true, protect)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		src  string
		tags []uint16
		cut  bool
	}{
		{"192.0.2.5", nil, false},
		{"192.0.2.5", []uint16{etherVLAN}, false},
		{"192.0.2.17", nil, true},
		{"2001:db8:0:53::99", nil, false},
		{"2001:db8:0:54::99", nil, true},
		{"2001:db8:1::7", nil, false}, // the same /64 as a protected /128
		{"2001:db8:2::7", nil, true},
		{"2001:dcf:ffff::1", nil, false}, // inside the /28
		{"2001:dd0::1", nil, true},
	} {
		f := frame(macB, netip.MustParseAddr(c.src), 300, c.tags...)
		want := len(f)
		if c.cut {
			want = Snap
		}
		if got := run(t, prog, f); got != want {
			t.Errorf("%s (tags %v) from the quarantined MAC: snap %d, want %d", c.src, c.tags, got, want)
		}
	}
	// Too many protected prefixes to check: MACs are left out rather than
	// cut a protected host; IP keys still work.
	var many []netip.Prefix
	for i := range 400 {
		many = append(many, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)}), 32))
	}
	ipKey := source.FromAddr(netip.MustParseAddr("198.51.100.1"))
	prog, used, err = Program([]source.Key{source.FromMAC(macB), ipKey}, true, many)
	if err != nil || used != 2 {
		t.Fatal(used, err)
	}
	if f := frame(macB, netip.MustParseAddr("198.51.100.2"), 300); run(t, prog, f) != len(f) {
		t.Error("MAC cut although the protected prefixes did not fit")
	}
	if f := frame(macA, netip.MustParseAddr("198.51.100.1"), 300); run(t, prog, f) != Snap {
		t.Error("IP key not cut")
	}
}

// More sources than a program can hold: the first ones are matched, the
// program stays within the kernel's limit, and used says where it stopped.
func TestProgramBounded(t *testing.T) {
	var keys []source.Key
	for i := range 3000 {
		keys = append(keys, source.FromAddr(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})))
		keys = append(keys, source.FromMAC([6]byte{6, 0, 0, 0, byte(i >> 8), byte(i)}))
	}
	prog, used, err := Program(keys, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prog) > MaxInstructions || used >= len(keys) || used < 200 {
		t.Fatalf("%d instructions, %d of %d keys", len(prog), used, len(keys))
	}
	first := frame(macA, netip.AddrFrom4([4]byte{10, 1, 0, 0}), 300)
	if got := run(t, prog, first); got != Snap {
		t.Errorf("first key not cut: %d", got)
	}
	last := frame(macA, netip.AddrFrom4([4]byte{10, 1, 11, 183}), 300)
	if got := run(t, prog, last); got != len(last) {
		t.Errorf("key beyond the program cut: %d", got)
	}
}

// The filter agrees with the dataplane's own idea of a frame's sources:
// on random frames, quarantine lists and never_quarantine lists, a frame is
// cut exactly when source.Keys names a listed source and no protected one
// (for frames with at most one in-frame tag; anything the filter does not
// parse is passed whole).
func TestProgramAgreesWithSourceKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	macs := [][6]byte{macA, macB, {2, 0, 0, 0, 0, 0x0c}}
	addrs := []netip.Addr{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("198.51.100.9"),
		netip.MustParseAddr("2001:db8:0:1::1"), netip.MustParseAddr("2001:db8:0:1::2"), netip.MustParseAddr("2001:db8:0:2::1"),
	}
	for iter := 0; iter < 2000; iter++ {
		var keys []source.Key
		for _, m := range macs {
			if rng.IntN(3) == 0 {
				keys = append(keys, source.FromMAC(m))
			}
		}
		for _, a := range addrs {
			if rng.IntN(3) == 0 {
				keys = append(keys, source.FromAddr(a))
			}
		}
		var protect []netip.Prefix
		for _, a := range addrs {
			if rng.IntN(6) == 0 {
				protect = append(protect, netip.PrefixFrom(a, a.BitLen()))
			}
		}
		rackSide := rng.IntN(2) == 0
		prog, _, err := Program(keys, rackSide, protect)
		if err != nil {
			t.Fatal(err)
		}
		var tags []uint16
		if rng.IntN(3) == 0 {
			tags = append(tags, etherVLAN)
		}
		f := frame(macs[rng.IntN(len(macs))], addrs[rng.IntN(len(addrs))], rng.IntN(200))
		if len(tags) > 0 {
			f = frame([6]byte(f[6:12]), addrs[rng.IntN(len(addrs))], rng.IntN(200), tags...)
		}
		var pf packet.Frame
		pf.Decode(f, nil)
		dir := packet.In
		if rackSide {
			dir = packet.Out
		}
		ks, n := source.Keys(&pf, dir)
		want := len(f)
		for _, k := range ks[:n] {
			for _, q := range keys {
				if k == q && len(f) > Snap {
					want = Snap
				}
			}
		}
		for _, k := range ks[:n] {
			p, isIP := k.Prefix()
			for _, pr := range protect {
				if isIP && pr.Overlaps(p) {
					want = len(f) // never_quarantine wins
				}
			}
		}
		if got := run(t, prog, f); got != want {
			t.Fatalf("iteration %d: frame from %v (%d keys listed, rack %v): snap %d, want %d", iter, ks[:n], len(keys), rackSide, got, want)
		}
	}
}
