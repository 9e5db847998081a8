package tests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/layout"
)

// recordingMachine is the real LinuxMachine except that a reboot is only
// recorded (the test runs on the build host) and, where the host kernel
// has no VFAT, the boot partition is a directory holding the same files.
type recordingMachine struct {
	update.LinuxMachine
	reboots chan string
	bootDir string // non-empty: stand-in for the FAT
}

func (m recordingMachine) Reboot(arg string) error { m.reboots <- arg; return nil }

func (m recordingMachine) MountBoot() (string, func() error, error) {
	if m.bootDir != "" {
		return m.bootDir, func() error { return nil }, nil
	}
	return m.LinuxMachine.MountBoot()
}

func hostHasVFAT() bool {
	b, _ := os.ReadFile("/proc/filesystems")
	return strings.Contains(string(b), "\tvfat\n")
}

// TestUpdateOnLoopDevice runs the agent's real machine code (finding the
// disk from root=PARTUUID, writing the slot's block device, mounting the
// VFAT boot partition, atomic renames on it) against a freshly built
// image attached as a loop device, without booting it.
func TestUpdateOnLoopDevice(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: loop devices and mounting")
	}
	if _, err := exec.LookPath("losetup"); err != nil {
		t.Skip("needs losetup (util-linux)")
	}
	board, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := layout.New(board)
	if err != nil {
		t.Fatal(err)
	}
	keys := qemuUpdateKeys(t)
	work := t.TempDir()
	img := qemuDisk(t) // version 1, trusting keys
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skipf("needs loop devices: %v", err)
	}
	// With loop devices present, failing to attach one is a fault.
	out, err := exec.Command("losetup", "-f", "--show", "-P", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v %s", err, out)
	}
	loop := strings.TrimSpace(string(out))
	t.Cleanup(func() { exec.Command("losetup", "-d", loop).Run() })
	ensurePartitionNodes(t, loop)

	cmdline := filepath.Join(work, "cmdline")
	if err := os.WriteFile(cmdline, []byte(layout.KernelCmdline(board, disk, layout.SlotA)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := recordingMachine{LinuxMachine: update.LinuxMachine{ProcCmdline: cmdline, MountDir: filepath.Join(work, "boot")}, reboots: make(chan string, 2)}
	if !hostHasVFAT() {
		t.Log("the host kernel has no VFAT: the boot partition is stood in for by a directory; the block devices are real")
		m.bootDir = filepath.Join(work, "bootdir")
		d := update.DirFS(m.bootDir)
		for p, text := range map[string]string{
			layout.LoaderConf:                       layout.LoaderConfig(),
			layout.LoaderEntryPath(layout.SlotA, 0): layout.LoaderEntry(board, disk, layout.SlotA, "1"),
			layout.KernelPath(board, layout.SlotA):  "kernel v1",
		} {
			if err := d.WriteFile(p, []byte(text)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dev, err := m.SlotDevice(layout.SlotB)
	if err != nil || dev != loop+"p3" {
		t.Fatalf("slot B device %q %v, want %sp3", dev, err, loop)
	}
	pub, err := bundle.ParsePublicKey(string(keys.pubTxt))
	if err != nil {
		t.Fatal(err)
	}
	a, err := update.New(update.Config{Board: board, Keys: []ed25519.PublicKey{pub}, RunningVersion: 1, StateDir: filepath.Join(work, "perm"),
		Machine: m, RebootDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	kernel := bytes.Repeat([]byte("K"), 4<<20)
	rootfs := bytes.Repeat([]byte("squashfs-v2 "), 1<<20)
	tmpl, _ := layout.SlotEntryTemplate(board, "2", "")
	bundlePath := writeBundle(t, filepath.Join(work, "v2.bundle"), keys.priv, board.Name, 2, kernel, tmpl, rootfs)
	f, _ := os.Open(bundlePath)
	defer f.Close()
	start := time.Now()
	if _, err := a.Install(context.Background(), f, update.InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if arg := <-m.reboots; arg != "" {
		t.Fatalf("reboot argument %q", arg)
	}
	t.Logf("install of a %d MiB bundle onto the loop device: %.1fs", (len(kernel)+len(rootfs))>>20, time.Since(start).Seconds())

	// What the boot loader will see: mount the FAT again and read it.
	dir, unmount, err := m.MountBoot()
	if err != nil {
		t.Fatal(err)
	}
	slot, ok, err := update.DefaultSlot(update.DirFS(dir))
	names, _ := os.ReadDir(filepath.Join(dir, "loader", "entries"))
	k, kerr := os.ReadFile(filepath.Join(dir, "b", "vmlinuz"))
	unmount()
	var listing []string
	for _, n := range names {
		listing = append(listing, n.Name())
	}
	if err != nil || !ok || slot != layout.SlotB {
		t.Fatalf("next boot %q %v %v; entries %v", slot, ok, err, listing)
	}
	if strings.Join(listing, ",") != "rackwall-a.conf,rackwall-b+3.conf" {
		t.Fatalf("entries %v", listing)
	}
	if kerr != nil || !bytes.Equal(k, kernel) {
		t.Fatalf("slot B kernel on the FAT: %d bytes, %v", len(k), kerr)
	}
	got := readPart(t, img, disk.Parts[layout.PartRootB-1])
	if !bytes.Equal(got[:len(rootfs)], rootfs) {
		t.Fatal("slot B partition does not hold the root")
	}
	// The FAT stays consistent after our renames.
	fsck, err := exec.LookPath("fsck.vfat")
	if m.bootDir != "" || err != nil {
		return
	}
	if out, err := exec.Command(fsck, "-n", loop+"p1").CombinedOutput(); err != nil {
		t.Errorf("fsck.vfat: %v\n%s", err, out)
	}
}

// ensurePartitionNodes makes sure /dev/loopNpM exist: it asks the kernel
// to scan the partitions where losetup -P did not, and creates the device
// nodes where no udev or devtmpfs did.
func ensurePartitionNodes(t *testing.T, loop string) {
	t.Helper()
	base := filepath.Base(loop)
	if _, err := os.Stat(fmt.Sprintf("/sys/class/block/%sp1", base)); err != nil {
		if out, err := exec.Command("partx", "-a", loop).CombinedOutput(); err != nil {
			t.Logf("partx -a %s: %v %s", loop, err, out)
		}
	}
	for n := 1; n <= 4; n++ {
		node := fmt.Sprintf("%sp%d", loop, n)
		if _, err := os.Stat(node); err == nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/sys/class/block/%sp%d/dev", base, n))
		if err != nil {
			t.Skipf("the kernel did not scan %s's partitions: %v", loop, err)
		}
		var major, minor uint32
		fmt.Sscanf(strings.TrimSpace(string(b)), "%d:%d", &major, &minor)
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(major, minor))); err != nil {
			t.Skipf("mknod %s: %v", node, err)
		}
		t.Cleanup(func() { os.Remove(node) })
	}
}
