package layout

import (
	"fmt"
	"strings"

	"github.com/rackwall/rackwall/boards"
)

// Tokens of a slot's boot entry template. An update bundle does not know
// which slot it will land in, so its boot entry (UEFI) or command line
// (Raspberry Pi) names the slot through these; the box fills them in.
const (
	TokenRoot      = "{root}"   // the root= argument of the slot
	TokenSlot      = "{slot}"   // "a" or "b"
	TokenSlotUpper = "{SLOT}"   // "A" or "B"
	TokenKernel    = "{kernel}" // the slot's kernel path on the boot partition
)

// SlotEntryTemplate is the boot entry template for board b: for UEFI a
// systemd-boot entry, for the Raspberry Pi a command line. extraCmdline is
// appended to the kernel command line last (so it overrides earlier
// arguments of the same name).
func SlotEntryTemplate(b boards.Board, version, extraCmdline string) (string, error) {
	l, err := New(b)
	if err != nil {
		return "", err
	}
	// Render for slot A, then put the tokens back where the slot shows:
	// the command line stays exactly KernelCmdline's.
	cmdline := KernelCmdline(b, l, SlotA)
	cmdline = strings.Replace(cmdline, l.RootArgument(PartRootA), TokenRoot, 1)
	cmdline = strings.Replace(cmdline, "rackwall.slot="+string(SlotA), "rackwall.slot="+TokenSlot, 1)
	if extraCmdline != "" {
		cmdline += " " + extraCmdline
	}
	if b.Boot == boards.BootRPi {
		return cmdline, nil
	}
	return fmt.Sprintf("title rackwall %s (slot %s)\nversion %s\nlinux %s\noptions %s\n",
		version, TokenSlotUpper, version, TokenKernel, cmdline), nil
}
