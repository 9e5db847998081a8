package image

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/rackwall/rackwall/image/layout"
	"github.com/rackwall/rackwall/image/squashfs"
)

// SlotParts is what an update writes into one slot: the kernel, the root
// file system and the boot entry template.
type SlotParts struct {
	Kernel        []byte
	Root          []byte // squashfs
	EntryTemplate string
	Manifest      Manifest
}

// BuildSlotParts builds the kernel, root file system and boot entry
// template of cfg for an update bundle, the same way Build makes slot A of
// a disk image.
func BuildSlotParts(cfg Config, extraCmdline string) (SlotParts, error) {
	if err := cfg.fill(); err != nil {
		return SlotParts{}, err
	}
	b := cfg.Board
	disk, err := layout.New(b)
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
	if int64(sq.Len()) > disk.Parts[layout.PartRootA-1].Size() {
		return SlotParts{}, fmt.Errorf("root file system (%d bytes) does not fit a slot (%d bytes)", sq.Len(), disk.Parts[layout.PartRootA-1].Size())
	}
	kernel, err := os.ReadFile(filepath.Join(kernelDir, "vmlinuz"))
	if err != nil {
		return SlotParts{}, fmt.Errorf("kernel: %w", err)
	}
	tmpl, err := layout.SlotEntryTemplate(b, cfg.Version, extraCmdline)
	if err != nil {
		return SlotParts{}, err
	}
	cfg.logf("slot parts: kernel %d bytes, root %d bytes", len(kernel), sq.Len())
	return SlotParts{Kernel: kernel, Root: sq.Bytes(), EntryTemplate: tmpl, Manifest: m}, nil
}
