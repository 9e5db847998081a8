package update

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/layout"
)

// LinuxMachine is the real box: partitions found from the kernel command
// line's root=PARTUUID=<boot partition GUID>/PARTNROFF=N the way gokrazy's
// runtime finds them, the boot partition mounted as VFAT under /tmp, and a
// reboot(2) through the firmware and boot loader.
type LinuxMachine struct {
	// ProcCmdline defaults to /proc/cmdline.
	ProcCmdline string
	// MountDir is where the boot partition's mount points are made;
	// defaults to /tmp.
	MountDir string
}

// Cmdline reads the kernel command line.
func (m LinuxMachine) Cmdline() (string, error) {
	p := m.ProcCmdline
	if p == "" {
		p = "/proc/cmdline"
	}
	b, err := os.ReadFile(p)
	return strings.TrimSpace(string(b)), err
}

// SlotDevice is partition 2 or 3 of the disk we booted from.
func (m LinuxMachine) SlotDevice(s layout.Slot) (string, error) { return m.partition(s.Partition()) }

func (m LinuxMachine) partition(n int) (string, error) {
	cmd, err := m.Cmdline()
	if err != nil {
		return "", err
	}
	disk, err := bootDisk(cmd)
	if err != nil {
		return "", err
	}
	sep := ""
	if c := disk[len(disk)-1]; c >= '0' && c <= '9' {
		sep = "p" // nvme0n1p2, mmcblk0p2
	}
	return "/dev/" + disk + sep + strconv.Itoa(n), nil
}

// bootDisk finds the disk whose first GPT entry has the unique GUID named
// by root=PARTUUID=<guid>/PARTNROFF=N (or whose MBR signature matches
// root=PARTUUID=<sig>-NN).
func bootDisk(cmdline string) (string, error) {
	var uuid string
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "root=PARTUUID="); ok {
			uuid, _, _ = strings.Cut(v, "/")
		}
	}
	if uuid == "" {
		return "", fmt.Errorf("no root=PARTUUID= on the kernel command line")
	}
	disks, err := os.ReadDir("/sys/block")
	if err != nil {
		return "", err
	}
	for _, d := range disks {
		name := d.Name()
		if strings.HasPrefix(name, "ram") || strings.HasPrefix(name, "zram") {
			continue
		}
		if diskMatches("/dev/"+name, uuid) {
			return name, nil
		}
	}
	return "", fmt.Errorf("no disk holds partition %s", uuid)
}

func diskMatches(dev, uuid string) bool {
	f, err := os.Open(dev)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, 512)
	if g, err := layout.ParseGUID(uuid); err == nil {
		// First GPT partition entry at LBA 2; its unique GUID at offset 16.
		if _, err := f.ReadAt(buf, 2*512); err != nil {
			return false
		}
		return string(buf[16:32]) == string(g.Bytes())
	}
	sig, _, ok := strings.Cut(uuid, "-")
	if !ok {
		return false
	}
	v, err := strconv.ParseUint(sig, 16, 32)
	if err != nil {
		return false
	}
	if _, err := f.ReadAt(buf, 0); err != nil {
		return false
	}
	return binary.LittleEndian.Uint32(buf[440:444]) == uint32(v)
}

// MountBoot mounts partition 1 (VFAT) read-write on a fresh directory, so a
// mount that could not be undone earlier never blocks the next update.
func (m LinuxMachine) MountBoot() (string, func() error, error) {
	dev, err := m.partition(layout.PartBoot)
	if err != nil {
		return "", nil, err
	}
	parent := m.MountDir
	if parent == "" {
		parent = "/tmp"
	}
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return "", nil, err
	}
	dir, err := os.MkdirTemp(parent, "rackwall-boot-")
	if err != nil {
		return "", nil, err
	}
	if err := unix.Mount(dev, dir, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "flush"); err != nil {
		os.Remove(dir)
		return "", nil, fmt.Errorf("mount %s on %s: %w", dev, dir, err)
	}
	return dir, func() error { return unmountBoot(dir) }, nil
}

// unmountBoot unmounts dir, waiting a little while something still holds
// it, and removes the mount point. A mount that stays busy is detached so
// the next update starts on a fresh one.
func unmountBoot(dir string) error {
	unix.Sync()
	var err error
	for try := 0; try < 20; try++ {
		if err = unix.Unmount(dir, 0); err != unix.EBUSY {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		unix.Unmount(dir, unix.MNT_DETACH)
		return err
	}
	return os.Remove(dir)
}

// Reboot syncs and restarts the machine through the firmware (never
// kexec: the boot loader must count the try). A non-empty arg uses
// LINUX_REBOOT_CMD_RESTART2 (the Raspberry Pi firmware reads "0 tryboot").
func (m LinuxMachine) Reboot(arg string) error {
	unix.Sync()
	if arg == "" {
		return unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	}
	p, err := unix.BytePtrFromString(arg)
	if err != nil {
		return err
	}
	_, _, errno := unix.Syscall6(unix.SYS_REBOOT, unix.LINUX_REBOOT_MAGIC1, unix.LINUX_REBOOT_MAGIC2,
		unix.LINUX_REBOOT_CMD_RESTART2, uintptr(unsafe.Pointer(p)), 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

// BootID reads the kernel's per-boot random ID.
func (m LinuxMachine) BootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	return strings.TrimSpace(string(b)), err
}

// Box paths the image builder writes (see package image).
const (
	boxManifest = layout.ManifestPath
	boxBoard    = layout.BoardPath
	boxKeysDir  = layout.UpdateKeysDir
)

// NewOnBox builds the agent of a running box: board, running version and
// trusted keys from the root file system, state under stateDir (on
// /perm, e.g. /perm/rackwall/update). password is how the agent learns
// that a request re-entered the admin password (Config.PasswordConfirmed
// and Config.PasswordHeader).
func NewOnBox(stateDir string, password PasswordGuard) (*Agent, error) {
	var man struct{ Board, Version string }
	b, err := os.ReadFile(boxManifest)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &man); err != nil {
		return nil, fmt.Errorf("%s: %w", boxManifest, err)
	}
	board, err := boards.Lookup(man.Board)
	if err != nil {
		return nil, err
	}
	version, err := strconv.ParseInt(man.Version, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: version %q is not a number, so no update can be judged newer", boxManifest, man.Version)
	}
	files, _ := filepath.Glob(filepath.Join(boxKeysDir, "*"))
	keys, err := bundle.LoadPublicKeys(files...)
	if err != nil {
		return nil, err
	}
	return New(Config{Board: board, Keys: keys, RunningVersion: version, StateDir: stateDir, Machine: LinuxMachine{},
		PasswordConfirmed: password.Confirmed, PasswordHeader: password.Header})
}
