package image

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/squashfs"
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

// SlotParts is what an update writes into one slot: the kernel, the root
// file system and the boot entry template.
type SlotParts struct {
	Kernel        []byte
	Root          []byte // squashfs
	EntryTemplate string
	Manifest      Manifest
}

// SlotEntryTemplate is the boot entry template for board b: for UEFI a
// systemd-boot entry, for the Raspberry Pi a command line. extraCmdline is
// appended to the kernel command line last (so it overrides earlier
// arguments of the same name).
func SlotEntryTemplate(b boards.Board, version, extraCmdline string) (string, error) {
	l, err := NewLayout(b)
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

// BuildSlotParts builds the kernel, root file system and boot entry
// template of cfg for an update bundle, the same way Build makes slot A of
// a disk image.
func BuildSlotParts(cfg Config, extraCmdline string) (SlotParts, error) {
	if err := cfg.fill(); err != nil {
		return SlotParts{}, err
	}
	b := cfg.Board
	layout, err := NewLayout(b)
	if err != nil {
		return SlotParts{}, err
	}
	work, err := os.MkdirTemp("", "rackwall-slot-")
	if err != nil {
		return SlotParts{}, err
	}
	defer os.RemoveAll(work)
	kernelDir, kernelVersion, err := moduleDir(cfg.ModuleRoot, b.KernelModule)
	if err != nil {
		return SlotParts{}, err
	}
	mtime := time.Unix(cfg.SourceDateEpoch, 0).UTC()
	m := Manifest{
		Product:   productName,
		Board:     b.Name,
		Version:   cfg.Version,
		BuildTime: mtime.Format(time.RFC3339),
		Kernel:    ModuleVersion{Path: b.KernelModule, Version: kernelVersion},
	}
	root, err := cfg.rootTree(work, kernelDir, &m)
	if err != nil {
		return SlotParts{}, err
	}
	var sq bytes.Buffer
	if err := squashfs.Write(&sq, root, uint32(cfg.SourceDateEpoch)); err != nil {
		return SlotParts{}, err
	}
	if int64(sq.Len()) > layout.Parts[PartRootA-1].Size() {
		return SlotParts{}, fmt.Errorf("root file system (%d bytes) does not fit a slot (%d bytes)", sq.Len(), layout.Parts[PartRootA-1].Size())
	}
	kernel, err := os.ReadFile(filepath.Join(kernelDir, "vmlinuz"))
	if err != nil {
		return SlotParts{}, fmt.Errorf("kernel: %w", err)
	}
	tmpl, err := SlotEntryTemplate(b, cfg.Version, extraCmdline)
	if err != nil {
		return SlotParts{}, err
	}
	cfg.logf("slot parts: kernel %d bytes, root %d bytes", len(kernel), sq.Len())
	return SlotParts{Kernel: kernel, Root: sq.Bytes(), EntryTemplate: tmpl, Manifest: m}, nil
}
