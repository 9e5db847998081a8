package tests

// Read-back tests of the image builder: each builds an image the way
// "make image" does and checks it with independent readers (sfdisk,
// fsck.fat, unsquashfs, e2fsck, go-diskfs) as well as our own squashfs
// reader. They need the Go toolchain and Debian's systemd-boot-efi, not root.

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"golang.org/x/crypto/bcrypt"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/layout"
	"github.com/rackwall/rackwall/image/squashfs"
)

func skipWithoutSystemdBoot(t *testing.T) {
	if _, err := os.Stat(image.DefaultSystemdBoot); err != nil {
		t.Skip("needs systemd-boot (Debian package systemd-boot-efi)")
	}
}

func layoutOf(t *testing.T, board string) (boards.Board, layout.Disk) {
	b, err := boards.Lookup(board)
	if err != nil {
		t.Fatal(err)
	}
	l, err := layout.New(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, l
}

func moduleFile(t *testing.T, module, name string) []byte {
	root, err := image.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestImagePartitionTable(t *testing.T) {
	skipWithoutSystemdBoot(t)
	sfdisk := needTool(t, "sfdisk")
	img := qemuImage(t)
	_, l := layoutOf(t, "qemu-amd64")

	out, err := exec.Command(sfdisk, "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Label      string `json:"label"`
			ID         string `json:"id"`
			Partitions []struct {
				Start, Size uint64
				Type, UUID  string
				Name        string
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatal(err)
	}
	tab := pt.PartitionTable
	if tab.Label != "gpt" || !strings.EqualFold(tab.ID, "60c24cc1-f3f9-427a-8199-2a9d41c70000") {
		t.Errorf("label %s id %s", tab.Label, tab.ID)
	}
	want := []struct {
		start, size uint64
		typ, name   string
	}{
		{8192, 204800, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "boot"},
		{212992, 1024000, "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", "root-a"},
		{1236992, 1024000, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "root-b"},
		{2260992, l.Parts[3].Sectors, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", "perm"},
	}
	if len(tab.Partitions) != 4 {
		t.Fatalf("%d partitions, want 4", len(tab.Partitions))
	}
	for i, w := range want {
		p := tab.Partitions[i]
		guid := layout.PartitionGUID(0x2a9d41c7, i+1).String()
		if p.Start != w.start || p.Size != w.size || p.Type != w.typ || p.Name != w.name || !strings.EqualFold(p.UUID, guid) {
			t.Errorf("partition %d: %+v, want start %d size %d type %s uuid %s", i+1, p, w.start, w.size, w.typ, guid)
		}
	}

	// The hybrid MBR, byte for byte.
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 512)
	f.ReadAt(mbr, 0)
	want1 := []byte{0x80, 0xfe, 0xff, 0xff, 0x0c, 0xfe, 0xff, 0xff, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x03, 0x00}
	want2 := []byte{0x00, 0xfe, 0xff, 0xff, 0xee, 0xfe, 0xff, 0xff, 0x01, 0x00, 0x00, 0x00, 0xff, 0x1f, 0x00, 0x00}
	if !bytes.Equal(mbr[446:462], want1) || !bytes.Equal(mbr[462:478], want2) {
		t.Errorf("MBR entries\n got % x\n     % x\nwant % x\n     % x", mbr[446:462], mbr[462:478], want1, want2)
	}
	if binary.LittleEndian.Uint32(mbr[440:]) != 0x2a9d41c7 || mbr[510] != 0x55 || mbr[511] != 0xaa {
		t.Errorf("MBR signature/trailer % x", mbr[440:446])
	}
}

func TestImageBootPartitionUEFI(t *testing.T) {
	skipWithoutSystemdBoot(t)
	img := qemuImage(t)
	b, l := layoutOf(t, "qemu-amd64")
	boot := l.Parts[0]

	if fsck, err := exec.LookPath("fsck.fat"); err == nil {
		tmp := filepath.Join(t.TempDir(), "boot.fat")
		if err := os.WriteFile(tmp, readPart(t, img, boot), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(fsck, "-n", tmp).CombinedOutput(); err != nil {
			t.Errorf("fsck.fat -n: %v\n%s", err, out)
		}
	}
	fs := openFAT(t, img, boot)
	efi, err := os.ReadFile(image.DefaultSystemdBoot)
	if err != nil {
		t.Fatal(err)
	}
	expectFile(t, fs, "/EFI/BOOT/BOOTX64.EFI", efi)
	expectFile(t, fs, "/a/vmlinuz", moduleFile(t, b.KernelModule, "vmlinuz"))
	expectFile(t, fs, "/loader/loader.conf", []byte("timeout 0\ndefault rackwall-*\neditor no\n"))
	expectFile(t, fs, "/loader/entries/rackwall-a.conf", []byte(
		"title rackwall 1 (slot A)\nversion 1\nlinux /a/vmlinuz\n"+
			"options console=tty1 console=ttyS0,115200 root=PARTUUID=60c24cc1-f3f9-427a-8199-2a9d41c70001/PARTNROFF=1 ro init=/gokrazy/init panic=10 oops=panic rootwait pci=nommconf rackwall.slot=a\n"))
	if entries := fatList(t, img, boot, "/loader/entries"); len(entries) != 1 || entries[0] != "/loader/entries/rackwall-a.conf" {
		t.Errorf("loader entries %v, want only slot A's (slot B is empty)", entries)
	}
	if _, err := fs.ReadFile("/b/vmlinuz"); err == nil {
		t.Error("slot B has a kernel in a fresh image")
	}
}

func openFAT(t *testing.T, img string, p layout.Partition) *fat32.FileSystem {
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	fs, err := fat32.Read(file.New(f, true), p.Size(), p.Offset(), 512)
	if err != nil {
		t.Fatalf("reading the boot FAT: %v", err)
	}
	return fs
}

func expectFile(t *testing.T, fs *fat32.FileSystem, p string, want []byte) {
	t.Helper()
	got, err := fs.ReadFile(p)
	if err != nil {
		t.Errorf("boot partition: %s: %v", p, err)
		return
	}
	if !bytes.Equal(got, want) {
		t.Errorf("boot partition: %s differs (%d bytes, want %d)", p, len(got), len(want))
	}
}

func TestImageRootFilesystem(t *testing.T) {
	skipWithoutSystemdBoot(t)
	img := qemuImage(t)
	b, l := layoutOf(t, "qemu-amd64")
	raw := readPart(t, img, l.Parts[layout.PartRootA-1])

	// Our reader.
	root, err := squashfs.Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	for p, target := range map[string]string{"/var": "/perm/var", "/etc/resolv.conf": "/tmp/resolv.conf"} {
		if n := root.Lookup(p); n == nil || n.Target != target {
			t.Errorf("%s should be a symlink to %s", p, target)
		}
	}
	for _, d := range []string{"dev", "proc", "sys", "tmp", "perm", "run", "mnt", "etc", "user", "gokrazy", "etc/rackwall/update-keys", "lib/modules"} {
		if n := root.Lookup(d); n == nil || !n.IsDir {
			t.Errorf("/%s is not a directory", d)
		}
	}
	if n := root.Lookup("/etc/gokr-pw.txt"); n != nil {
		t.Error("/etc/gokr-pw.txt exists: gokrazy would serve its update endpoints on the network")
	}
	if n := root.Lookup("/etc/hostname"); n == nil || string(n.Data) != "rackwall\n" {
		t.Error("/etc/hostname")
	}
	if n := root.Lookup("/etc/rackwall/update-keys/test.pub"); n == nil || !bytes.Equal(n.Data, qemuUpdateKeys(t).pubTxt) {
		t.Error("update key missing")
	}
	if ca, err := os.ReadFile(image.DefaultCABundle); err == nil {
		if n := root.Lookup("/etc/ssl/certs/ca-certificates.crt"); n == nil || !bytes.Equal(n.Data, ca) {
			t.Error("CA bundle differs from the host's")
		}
	}
	programs := append([]image.Program{{Dir: "/gokrazy", Name: "init"}}, imagePrograms(t, b)...)
	for _, p := range programs {
		n := root.Lookup(p.Path())
		if n == nil || n.Perm != 0o755 {
			t.Errorf("%s missing or not 0755", p.Path())
			continue
		}
		ef, err := elf.NewFile(bytes.NewReader(n.Data))
		if err != nil || ef.Machine != elf.EM_X86_64 || ef.Type != elf.ET_EXEC {
			t.Errorf("%s is not a static x86-64 executable (%v)", p.Path(), err)
		}
	}

	var m image.Manifest
	if err := json.Unmarshal(root.Lookup(layout.ManifestPath).Data, &m); err != nil {
		t.Fatal(err)
	}
	if m.Product != "rackwall" || m.Board != "qemu-amd64" || m.Version != "1" || m.BuildTime != "2023-11-14T22:13:20Z" ||
		!strings.HasPrefix(m.GoVersion, "go1.") || m.Kernel.Path != "github.com/gokrazy/kernel.amd64" || m.Kernel.Version == "" || len(m.Programs) != len(programs) {
		t.Errorf("manifest %+v", m)
	}

	var services []struct {
		Path string   `json:"path"`
		Args []string `json:"args"`
	}
	if err := json.Unmarshal(root.Lookup(layout.ServicesPath).Data, &services); err != nil {
		t.Fatal(err)
	}
	if len(services) == 0 || services[0].Path != "/gokrazy/dhcp" || strings.Join(services[0].Args, " ") != "-interface eth0" {
		t.Errorf("services %+v: DHCP must run on the management port only", services)
	}

	// unsquashfs, independently.
	sq := filepath.Join(t.TempDir(), "root.squashfs")
	if err := os.WriteFile(sq, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(needTool(t, "unsquashfs"), "-lls", "-n", sq)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unsquashfs -lls: %v\n%s", err, out)
	}
	listing := string(out)
	for _, re := range []string{
		`-rwxr-xr-x root/root +\d+ 2023-11-14 22:13 squashfs-root/gokrazy/init\n`,
		`lrwxrwxrwx root/root +9 2023-11-14 22:13 squashfs-root/var -> /perm/var\n`,
		`lrwxrwxrwx root/root +16 2023-11-14 22:13 squashfs-root/etc/resolv.conf -> /tmp/resolv.conf\n`,
		`drwxr-xr-x root/root +\d+ 2023-11-14 22:13 squashfs-root/perm\n`,
		`-rw-r--r-- root/root +\d+ 2023-11-14 22:13 squashfs-root/etc/rackwall/manifest.json\n`,
	} {
		if !regexpMatch(re, listing) {
			t.Errorf("unsquashfs listing has no line matching %s", re)
		}
	}

	// Slot B is empty.
	if slotB := readPart(t, img, l.Parts[layout.PartRootB-1]); !bytes.Equal(slotB, make([]byte, len(slotB))) {
		t.Error("slot B is not zeroed")
	}
}

func TestImageReproducibleWithInitialState(t *testing.T) {
	skipWithoutSystemdBoot(t)
	e2fsck := needTool(t, "e2fsck")
	hash, err := bcrypt.GenerateFromPassword([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	withState := func(c *image.Config) {
		c.AdminPasswordHash = hash
		// Only programs whose sources cannot change between the two builds
		// (init and gokrazy's helpers from the module cache): rackwall's own
		// packages may be edited while the test runs, which would be a
		// different input, not a builder fault.
		var stable []image.Program
		for _, p := range c.Programs {
			if strings.HasPrefix(p.Package, "github.com/gokrazy/") {
				stable = append(stable, p)
			}
		}
		c.Programs = stable
	}
	a, b := filepath.Join(dir, "a.img"), filepath.Join(dir, "b.img")
	buildImage(t, "qemu-amd64", a, withState)
	buildImage(t, "qemu-amd64", b, withState)
	sa, sb := sha256File(t, a), sha256File(t, b)
	if sa != sb {
		t.Fatalf("two builds differ: %x vs %x", sa, sb)
	}
	t.Logf("both builds: sha256 %x", sa)

	_, l := layoutOf(t, "qemu-amd64")
	perm := l.Parts[layout.PartPerm-1]
	tmp := filepath.Join(dir, "perm.ext4")
	if err := os.WriteFile(tmp, readPart(t, a, perm), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(e2fsck, "-fn", tmp).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	// debugfs (e2fsprogs) reads the file system independently.
	debugfs := needTool(t, "debugfs")
	got, err := exec.Command(debugfs, "-R", "cat /rackwall/admin.hash", tmp).Output()
	if err != nil {
		t.Fatalf("debugfs cat: %v", err)
	}
	if bcrypt.CompareHashAndPassword(bytes.TrimSpace(got), []byte("correct horse")) != nil {
		t.Errorf("admin.hash %q does not verify the password", got)
	}
	st, err := exec.Command(debugfs, "-R", "stat /rackwall/admin.hash", tmp).Output()
	if err != nil || !regexpMatch(`Mode:\s+0600\s`, string(st)) || !regexpMatch(`User:\s+0\s+Group:\s+0\s`, string(st)) {
		t.Errorf("admin.hash is not 0600 root:root: %v\n%s", err, st)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func sha256File(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func TestImageRaspberryPi(t *testing.T) {
	for _, board := range []string{"rpi4", "rpi5"} {
		t.Run(board, func(t *testing.T) {
			img := testImage(t, board)
			b, l := layoutOf(t, board)
			if l.Parts[0].Size() < 256<<20 {
				t.Errorf("boot partition %d bytes, want >= 256 MiB", l.Parts[0].Size())
			}
			fs := openFAT(t, img, l.Parts[0])
			for _, f := range []string{"bootcode.bin", "start4.elf", "fixup4.dat", "start.elf", "fixup.dat"} {
				expectFile(t, fs, "/"+f, moduleFile(t, b.FirmwareModule, f))
			}
			expectFile(t, fs, "/vmlinuz", moduleFile(t, b.KernelModule, "vmlinuz"))
			for _, dtb := range b.DeviceTrees {
				expectFile(t, fs, "/"+dtb, moduleFile(t, b.KernelModule, dtb))
			}
			expectFile(t, fs, "/overlays/overlay_map.dtb", moduleFile(t, b.KernelModule, "overlays/overlay_map.dtb"))
			if overlays := fatList(t, img, l.Parts[0], "/overlays"); len(overlays) < 100 {
				t.Errorf("overlays: %d entries", len(overlays))
			}
			cfg, _ := fs.ReadFile("/config.txt")
			for _, w := range []string{"arm_control=0x200\n", "enable_uart=1\n", "kernel=vmlinuz\n", "cmdline=cmdline.txt\n"} {
				if !strings.Contains(string(cfg), w) {
					t.Errorf("config.txt lacks %q:\n%s", w, cfg)
				}
			}
			cmdline, _ := fs.ReadFile("/cmdline.txt")
			wantRoot := "root=PARTUUID=" + layout.PartitionGUID(b.DeviceID, 1).String() + "/PARTNROFF=1 "
			if !strings.Contains(string(cmdline), wantRoot) || !strings.Contains(string(cmdline), "init=/gokrazy/init") {
				t.Errorf("cmdline.txt %q lacks %q", cmdline, wantRoot)
			}
			if _, err := fs.ReadFile("/tryboot.txt"); err == nil {
				t.Error("a fresh image has a tryboot.txt")
			}
			root, err := squashfs.Read(readPart(t, img, l.Parts[layout.PartRootA-1]))
			if err != nil {
				t.Fatal(err)
			}
			ef, err := elf.NewFile(bytes.NewReader(root.Lookup("/gokrazy/init").Data))
			if err != nil || ef.Machine != elf.EM_AARCH64 {
				t.Errorf("/gokrazy/init is not arm64 (%v)", err)
			}
			if n := root.Lookup("/lib/modules"); n == nil || len(n.Children) == 0 {
				t.Error("no kernel modules")
			}
		})
	}
}
