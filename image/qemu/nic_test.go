package qemu

import (
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Every port gets the chosen model, in bus order management, uplink, rack,
// with its fixed MAC, and each tap's -netdev names the descriptor the
// child inherits it on.
func TestNetworkArgsUseOneModelForEveryPort(t *testing.T) {
	up, rack := openNull(t), openNull(t)
	for _, tc := range []struct {
		nic  NIC
		want string
	}{{"", "virtio-net-pci"}, {NICVirtio, "virtio-net-pci"}, {NICE1000E, "e1000e"}, {NICIGB, "igb"}} {
		o := Options{NIC: tc.nic, Uplink: up, Rack: rack, Forwards: []Forward{{Host: 8443, Guest: 443}}}
		args, taps := o.networkArgs()
		want := []string{
			"-netdev", "user,id=mgmt,hostfwd=tcp:127.0.0.1:8443-:443",
			"-device", tc.want + ",netdev=mgmt,mac=02:72:77:00:00:01",
			"-netdev", "tap,id=uplink,fd=3",
			"-device", tc.want + ",netdev=uplink,mac=02:72:77:00:00:02",
			"-netdev", "tap,id=rack,fd=4",
			"-device", tc.want + ",netdev=rack,mac=02:72:77:00:00:03",
		}
		if !slices.Equal(args, want) {
			t.Errorf("NIC %q: args\n%q\nwant\n%q", tc.nic, args, want)
		}
		if !slices.Equal(taps, []*os.File{up, rack}) {
			t.Errorf("NIC %q: taps %v, want uplink then rack", tc.nic, taps)
		}
	}
	// Without an uplink tap the rack tap is the first inherited file.
	args, taps := Options{NIC: NICE1000E, Rack: rack}.networkArgs()
	if !slices.Contains(args, "tap,id=rack,fd=3") || len(taps) != 1 || taps[0] != rack {
		t.Errorf("rack tap alone: args %q, taps %v", args, taps)
	}
}

func TestParseNIC(t *testing.T) {
	for name, want := range map[string]NIC{"virtio": NICVirtio, "e1000e": NICE1000E, "igb": NICIGB} {
		got, err := ParseNIC(name)
		if err != nil || got != want {
			t.Errorf("ParseNIC(%q) = %q, %v; want %q", name, got, err, want)
		}
		if got.Driver() == "" {
			t.Errorf("%q has no driver name", got)
		}
	}
	for _, bad := range []string{"", "e1000", "virtio-net-pci", "igc", "E1000E"} {
		if n, err := ParseNIC(bad); err == nil {
			t.Errorf("ParseNIC(%q) = %q, want an error", bad, n)
		} else if !strings.Contains(err.Error(), "virtio, e1000e, igb") {
			t.Errorf("ParseNIC(%q): %v does not list the known models", bad, err)
		}
	}
}

// A device is listed only by its own name line or alias, not because its
// name is part of another's ("igb" in "igbvf", "e1000" in "e1000e").
func TestListsDevice(t *testing.T) {
	// As qemu 7.2 prints it (abridged).
	help := `Network devices:
name "e1000", bus PCI, alias "e1000-82540em", desc "Intel Gigabit Ethernet"
name "e1000e", bus PCI, desc "Intel 82574L GbE Controller"
name "igbvf", bus PCI, desc "Intel 82576 Virtual Function"
name "virtio-net-pci", bus PCI, alias "virtio-net"
`
	for dev, want := range map[string]bool{
		"e1000e": true, "e1000": true, "e1000-82540em": true, "virtio-net-pci": true, "virtio-net": true,
		"igb": false, "igc": false, "e1000-82544gc": false,
	} {
		if got := listsDevice(help, dev); got != want {
			t.Errorf("listsDevice(%q) = %v, want %v", dev, got, want)
		}
	}
}

// Supported agrees with what this host's qemu lists, and refuses a model
// it does not know at all.
func TestNICSupportedOnThisHost(t *testing.T) {
	if NIC("rtl8139").Supported() == nil {
		t.Error("Supported accepted a model rackwall does not offer")
	}
	if _, err := exec.LookPath(Binary); err != nil {
		t.Skip("needs " + Binary + " (Debian package qemu-system-x86)")
	}
	out, err := exec.Command(Binary, "-device", "help").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -device help: %v", Binary, err)
	}
	for _, n := range []NIC{NICVirtio, NICE1000E, NICIGB} {
		listed := strings.Contains(string(out), `name "`+string(n)+`"`)
		err := n.Supported()
		if listed != (err == nil) {
			t.Errorf("%s: listed by qemu %v, Supported() = %v", n, listed, err)
		}
		t.Logf("%s (driver %s): %v", n, n.Driver(), err)
	}
}

// openNull stands in for a tap device: networkArgs only passes files on.
func openNull(t *testing.T) *os.File {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
