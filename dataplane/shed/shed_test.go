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
	rack, used, err := Program(keys, true)
	if err != nil || used != len(keys) {
		t.Fatalf("Program: used %d, %v", used, err)
	}
	uplink, _, err := Program(keys, false)
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
	}, true)
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

func TestProgramWithoutKeysAcceptsAll(t *testing.T) {
	prog, used, err := Program(nil, true)
	if err != nil || used != 0 {
		t.Fatal(used, err)
	}
	f := frame(macB, netip.MustParseAddr("192.0.2.7"), 500)
	if got := run(t, prog, f); got != len(f) {
		t.Fatalf("snap %d", got)
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
	prog, used, err := Program(keys, true)
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
// on random frames and random quarantine lists, a frame is cut exactly
// when source.Keys names a listed source (for frames with at most one
// in-frame tag; anything the filter does not parse is passed whole).
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
		rackSide := rng.IntN(2) == 0
		prog, _, err := Program(keys, rackSide)
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
		if got := run(t, prog, f); got != want {
			t.Fatalf("iteration %d: frame from %v (%d keys listed, rack %v): snap %d, want %d", iter, ks[:n], len(keys), rackSide, got, want)
		}
	}
}
