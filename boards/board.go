// Package boards describes the hardware rackwall runs on: one small value per
// board saying how it boots, which kernel and firmware it needs, how the disk
// is laid out and which network port plays which role.
//
// Adding a board is one file that calls register from an init function.
package boards

import (
	"fmt"
	"sort"
)

// BootMethod is how the board's firmware finds the kernel.
type BootMethod string

const (
	// BootUEFI: the firmware starts EFI/BOOT/BOOTX64.EFI (systemd-boot),
	// which picks a slot by its boot-counting loader entries.
	BootUEFI BootMethod = "uefi"
	// BootRPi: the Raspberry Pi firmware reads config.txt (or tryboot.txt
	// after a "0 tryboot" reboot) from the FAT partition.
	BootRPi BootMethod = "rpi"
)

// Port names one physical network connector and the name gokrazy's kernel
// gives it (gokrazy keeps the kernel's ethN names; there is no udev renaming).
type Port struct {
	Label string // what is printed on the case or the PCI path, e.g. "port 1 (enp1s0)"
	Name  string // kernel interface name on the running box, e.g. "eth0"
	// Driver is the kernel driver that binds the connector's chip, as the
	// kernel names its module ("igc" for the i226-V), or empty where it
	// depends on what is plugged in (a USB adapter). Nothing on the box
	// loads kernel modules, so the board's kernel must have it built in.
	Driver string
}

// Board is everything the image builder and the run tooling need to know
// about one kind of device.
type Board struct {
	Name        string     // short name used on the command line, e.g. "qemu-amd64"
	Description string     // one line for humans
	GOARCH      string     // architecture every program is built for
	Boot        BootMethod // how the firmware loads the kernel

	// KernelModule is the Go module holding the kernel (vmlinuz, lib/modules,
	// and for the Pi the device trees and overlays).
	KernelModule string
	// FirmwareModule holds boot firmware files copied to the FAT root; empty
	// when the board's firmware lives in flash (UEFI boxes).
	FirmwareModule string
	// DeviceTrees are the *.dtb files (from the kernel module) this board
	// needs; empty for UEFI boards.
	DeviceTrees []string

	// Console is the kernel console= part of the command line.
	Console string
	// ExtraCmdline is appended to the command line (board quirks).
	ExtraCmdline string

	// Management is the out-of-band port (DHCP, UI, metrics); Uplink and
	// Rack are the two bridge ports. Ports lists every connector in order.
	Management, Uplink, Rack Port
	Ports                    []Port

	// Partition sizes in MiB. Perm takes the rest of the disk.
	BootMiB, RootMiB int
	// DiskMiB is the size of the image file the builder writes.
	DiskMiB int

	// DeviceID is the per-device 32-bit value gokrazy puts into partition
	// GUIDs (60c24cc1-f3f9-427a-8199-XXXXXXXX00NN) and the MBR disk
	// signature. It is written down here, once, and never derived from a
	// hostname: root= on every shipped kernel command line depends on it.
	DeviceID uint32
}

var registry = map[string]Board{}

// register adds a board; it panics on a duplicate or an inconsistent
// description because that is a programming error caught by any test.
func register(b Board) {
	if _, dup := registry[b.Name]; dup {
		panic("boards: duplicate board " + b.Name)
	}
	if err := b.Validate(); err != nil {
		panic(err)
	}
	registry[b.Name] = b
}

// Lookup returns the board called name.
func Lookup(name string) (Board, error) {
	b, ok := registry[name]
	if !ok {
		return Board{}, fmt.Errorf("unknown board %q (known: %v)", name, Names())
	}
	return b, nil
}

// Names lists the known boards, sorted.
func Names() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Validate checks that the description is usable by the image builder.
func (b Board) Validate() error {
	switch {
	case b.Name == "":
		return fmt.Errorf("board without a name")
	case b.GOARCH != "amd64" && b.GOARCH != "arm64":
		return fmt.Errorf("board %s: unsupported GOARCH %q", b.Name, b.GOARCH)
	case b.Boot != BootUEFI && b.Boot != BootRPi:
		return fmt.Errorf("board %s: unknown boot method %q", b.Name, b.Boot)
	case b.Boot == BootUEFI && b.GOARCH != "amd64":
		return fmt.Errorf("board %s: UEFI boot is only supported on amd64", b.Name)
	case b.Boot == BootRPi && (b.FirmwareModule == "" || len(b.DeviceTrees) == 0):
		return fmt.Errorf("board %s: a Raspberry Pi needs firmware and device trees", b.Name)
	case b.KernelModule == "":
		return fmt.Errorf("board %s: no kernel module", b.Name)
	case b.BootMiB < 32 || b.RootMiB < 64:
		return fmt.Errorf("board %s: partitions too small (boot %d MiB, root %d MiB)", b.Name, b.BootMiB, b.RootMiB)
	case b.Boot == BootRPi && b.BootMiB < 256:
		return fmt.Errorf("board %s: the boot partition must hold two Pi kernels (>= 256 MiB)", b.Name)
	case b.DiskMiB < 4+b.BootMiB+2*b.RootMiB+64:
		return fmt.Errorf("board %s: disk of %d MiB leaves less than 64 MiB for perm", b.Name, b.DiskMiB)
	case b.DeviceID == 0:
		return fmt.Errorf("board %s: DeviceID must be set", b.Name)
	}
	names := map[string]bool{}
	for _, p := range b.Ports {
		names[p.Name] = true
	}
	for _, p := range []Port{b.Management, b.Uplink, b.Rack} {
		if !names[p.Name] {
			return fmt.Errorf("board %s: role port %s is not among its ports", b.Name, p.Name)
		}
	}
	if b.Management.Name == b.Uplink.Name || b.Management.Name == b.Rack.Name || b.Uplink.Name == b.Rack.Name {
		return fmt.Errorf("board %s: management, uplink and rack must be different ports", b.Name)
	}
	return nil
}
