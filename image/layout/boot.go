package layout

import (
	"fmt"
	"strings"

	"github.com/rackwall/rackwall/boards"
)

// Slot names a root slot: "a" is partition 2, "b" partition 3.
type Slot string

const (
	SlotA Slot = "a"
	SlotB Slot = "b"
)

// Partition returns the slot's partition number.
func (s Slot) Partition() int {
	if s == SlotB {
		return PartRootB
	}
	return PartRootA
}

// KernelCmdline is the kernel command line that boots slot s of board b on
// a disk with layout l. rootwait instead of the kernel package's stock
// rootdelay=10 saves ten seconds on every boot.
func KernelCmdline(b boards.Board, l Disk, s Slot) string {
	parts := []string{b.Console, l.RootArgument(s.Partition()), "ro", "init=/gokrazy/init",
		"panic=10", "oops=panic", "rootwait"}
	if b.ExtraCmdline != "" {
		parts = append(parts, b.ExtraCmdline)
	}
	parts = append(parts, "rackwall.slot="+string(s))
	return strings.Join(parts, " ")
}

// UEFI (systemd-boot) files. Each slot has its kernel under /<slot>/vmlinuz
// and a loader entry. A freshly written image has only slot A; an update
// adds /b/vmlinuz and loader/entries/rackwall-b+3.conf (three tries), and
// systemd-boot's boot counting falls back to the other slot when the tries
// run out before the running system blesses its entry.
const (
	LoaderConf     = "/loader/loader.conf"
	SystemdBootEFI = "/EFI/BOOT/BOOTX64.EFI"
)

// KernelPath is where slot s's kernel lives on the boot partition.
func KernelPath(b boards.Board, s Slot) string {
	if b.Boot == boards.BootRPi {
		if s == SlotA {
			return "/vmlinuz"
		}
		return "/vmlinuz-" + string(s)
	}
	return "/" + string(s) + "/vmlinuz"
}

// LoaderEntryPath is the systemd-boot entry for slot s; tries > 0 adds the
// boot counter suffix ("+3").
func LoaderEntryPath(s Slot, tries int) string {
	if tries > 0 {
		return fmt.Sprintf("/loader/entries/rackwall-%s+%d.conf", s, tries)
	}
	return fmt.Sprintf("/loader/entries/rackwall-%s.conf", s)
}

// LoaderEntry is the content of slot s's systemd-boot entry.
func LoaderEntry(b boards.Board, l Disk, s Slot, version string) string {
	return fmt.Sprintf("title rackwall %s (slot %s)\nversion %s\nlinux %s\noptions %s\n",
		version, strings.ToUpper(string(s)), version, KernelPath(b, s), KernelCmdline(b, l, s))
}

// LoaderConfig is loader/loader.conf: no menu, no command line editing (the
// console must not be a way around the appliance), and a default that
// matches both slots; among matching entries systemd-boot prefers those
// with tries left.
func LoaderConfig() string {
	return "timeout 0\ndefault rackwall-*\neditor no\n"
}

// Raspberry Pi files. The firmware reads config.txt; after a reboot with the
// argument "0 tryboot" it reads tryboot.txt once instead. Slot A uses
// vmlinuz and cmdline.txt, slot B vmlinuz-b and cmdline-b.txt; an update
// writes slot B's files and a tryboot.txt selecting them, reboots with
// tryboot, and after the health check commits by rewriting config.txt the
// same way. A failed try simply boots config.txt's slot again.
const (
	RPiConfig    = "/config.txt"
	RPiTryConfig = "/tryboot.txt"
)

// RPiCmdlinePath is slot s's command line file.
func RPiCmdlinePath(s Slot) string {
	if s == SlotA {
		return "/cmdline.txt"
	}
	return "/cmdline-" + string(s) + ".txt"
}

// RPiConfigTxt renders config.txt (or tryboot.txt) booting slot s.
func RPiConfigTxt(b boards.Board, s Slot) string {
	return fmt.Sprintf(`# rackwall %s: boots slot %s
# Switch the CPU from ARMv7 into ARMv8 (aarch64) mode.
arm_control=0x200
enable_uart=1
kernel=%s
cmdline=%s
`, b.Name, strings.ToUpper(string(s)), strings.TrimPrefix(KernelPath(b, s), "/"), strings.TrimPrefix(RPiCmdlinePath(s), "/"))
}
