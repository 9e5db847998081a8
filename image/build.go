package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
	"github.com/rackwall/rackwall/image/squashfs"
)

// Host files the builder takes from the build machine by default.
const (
	DefaultSystemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
	DefaultCABundle    = "/etc/ssl/certs/ca-certificates.crt"
)

const (
	caBundleOnBox  = "/etc/ssl/certs/ca-certificates.crt"
	defaultHost    = "rackwall"
	productName    = "rackwall"
	buildTSVarName = "main.buildTimestamp"
)

// Config is everything one image build depends on. Equal configs (and equal
// module versions and host files) give byte-identical images.
type Config struct {
	Board           boards.Board
	Version         string
	SourceDateEpoch int64
	// Programs defaults to DefaultPrograms(Board).
	Programs []Program
	// AdminPasswordHash, if set, is stored as /perm/rackwall/admin.hash.
	// It is a bcrypt hash; the builder never sees or stores the password
	// in clear on the image.
	AdminPasswordHash []byte
	// UpdateKeys are public keys trusted for update bundles, by file name.
	UpdateKeys map[string][]byte
	Hostname   string // defaults to "rackwall"
	// ModuleRoot is the rackwall checkout (holding go.mod); found from the
	// working directory when empty.
	ModuleRoot string
	// SystemdBoot and CABundle default to the Debian host's files.
	SystemdBoot, CABundle string
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Build writes the disk image for cfg to out (atomically: a temporary file
// is renamed into place on success).
func Build(cfg Config, out string) error {
	if err := cfg.fill(); err != nil {
		return err
	}
	b := cfg.Board
	disk, err := layout.New(b)
	if err != nil {
		return err
	}
	mtime := time.Unix(cfg.SourceDateEpoch, 0).UTC()

	work, err := os.MkdirTemp("", "rackwall-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	kernelDir, kernelVersion, err := moduleDir(cfg.ModuleRoot, b.KernelModule)
	if err != nil {
		return err
	}
	manifest := Manifest{
		Product:   productName,
		Board:     b.Name,
		Version:   cfg.Version,
		BuildTime: mtime.Format(time.RFC3339),
		Kernel:    ModuleVersion{Path: b.KernelModule, Version: kernelVersion},
	}
	var firmwareDir string
	if b.FirmwareModule != "" {
		dir, v, err := moduleDir(cfg.ModuleRoot, b.FirmwareModule)
		if err != nil {
			return err
		}
		firmwareDir = dir
		manifest.Firmware = &ModuleVersion{Path: b.FirmwareModule, Version: v}
	}

	root, err := cfg.rootTree(work, kernelDir, &manifest)
	if err != nil {
		return err
	}
	var sq bytes.Buffer
	if err := squashfs.Write(&sq, root, uint32(cfg.SourceDateEpoch)); err != nil {
		return err
	}
	if int64(sq.Len()) > disk.Parts[layout.PartRootA-1].Size() {
		return fmt.Errorf("root file system (%d bytes) does not fit slot A (%d bytes)", sq.Len(), disk.Parts[layout.PartRootA-1].Size())
	}
	cfg.logf("root file system: %d bytes", sq.Len())

	bootFiles, err := cfg.bootFiles(disk, kernelDir, firmwareDir)
	if err != nil {
		return err
	}

	var permFiles []File
	if len(cfg.AdminPasswordHash) > 0 {
		permFiles = append(permFiles, File{Path: strings.TrimPrefix(layout.AdminHashPath, "/perm"), Data: cfg.AdminPasswordHash, Perm: 0o600})
	}

	tmp := out + ".tmp"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	defer f.Close()
	// Truncating leaves every unwritten byte zero, including slot B.
	if err := f.Truncate(int64(disk.DiskSectors) * layout.SectorSize); err != nil {
		return err
	}
	if err := writePartitionTables(f, disk); err != nil {
		return err
	}
	if _, err := f.WriteAt(sq.Bytes(), disk.Parts[layout.PartRootA-1].Offset()); err != nil {
		return err
	}
	st := file.New(f, false)
	if err := writeBootFS(st, f, f, disk.Parts[layout.PartBoot-1], bootFiles, mtime); err != nil {
		return err
	}
	if err := writePermFS(st, f, f, disk.Parts[layout.PartPerm-1], b.DeviceID, permFiles, uint32(cfg.SourceDateEpoch)); err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	cfg.logf("wrote %s (%d MiB, board %s, version %s)", out, b.DiskMiB, b.Name, cfg.Version)
	return nil
}

func (cfg *Config) fill() error {
	if cfg.Version == "" {
		return fmt.Errorf("image: a version is required")
	}
	if cfg.SourceDateEpoch <= 0 || cfg.SourceDateEpoch > 1<<32-1 {
		return fmt.Errorf("image: SOURCE_DATE_EPOCH %d out of range", cfg.SourceDateEpoch)
	}
	if cfg.Programs == nil {
		cfg.Programs = DefaultPrograms(cfg.Board)
	}
	if cfg.Hostname == "" {
		cfg.Hostname = defaultHost
	}
	if cfg.SystemdBoot == "" {
		cfg.SystemdBoot = DefaultSystemdBoot
	}
	if cfg.CABundle == "" {
		cfg.CABundle = DefaultCABundle
	}
	if cfg.ModuleRoot == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		if cfg.ModuleRoot, err = FindModuleRoot(wd); err != nil {
			return err
		}
	}
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	for name := range cfg.UpdateKeys {
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			return fmt.Errorf("image: invalid update key name %q", name)
		}
	}
	return nil
}

func (cfg *Config) logf(format string, args ...any) {
	fmt.Fprintf(cfg.Log, format+"\n", args...)
}

// rootTree compiles the programs and assembles the root file system.
func (cfg *Config) rootTree(work, kernelDir string, m *Manifest) (*squashfs.Node, error) {
	b := cfg.Board
	root := squashfs.NewTree()
	for _, d := range []string{"dev", "proc", "sys", "tmp", "perm", "run", "mnt", "etc", "user", "gokrazy"} {
		if _, err := root.MkdirAll(d); err != nil {
			return nil, err
		}
	}
	add := func(p string, perm fs.FileMode, data []byte) error { return root.AddFile(p, perm, data) }

	// Init first: its build info gives the Go version for the manifest.
	type build struct {
		onBox, pkg string
		ldflags    []string
	}
	builds := []build{{"/gokrazy/init", InitPackage, []string{"-X", buildTSVarName + "=" + m.BuildTime}}}
	var services []map[string]any
	for _, p := range cfg.Programs {
		builds = append(builds, build{onBox: p.Path(), pkg: p.Package})
		if p.Supervised {
			args := p.Args
			if args == nil {
				args = []string{}
			}
			svc := map[string]any{"path": p.Path(), "args": args}
			if p.WaitForClock {
				svc["wait_for_clock"] = true
			}
			if p.DHCPForManagement {
				svc["unless_static_management"] = layout.StateDir
			}
			services = append(services, svc)
		}
	}
	for i, bd := range builds {
		bin := filepath.Join(work, fmt.Sprintf("prog%d", i))
		cfg.logf("go build %s -> %s", bd.pkg, bd.onBox)
		if err := goBuild(cfg.ModuleRoot, b.GOARCH, bd.pkg, bin, bd.ldflags...); err != nil {
			return nil, err
		}
		pm, goVersion, err := programManifest(bin, bd.onBox, bd.pkg)
		if err != nil {
			return nil, err
		}
		m.GoVersion = goVersion
		m.Programs = append(m.Programs, pm)
		data, err := os.ReadFile(bin)
		if err != nil {
			return nil, err
		}
		if err := add(bd.onBox, 0o755, data); err != nil {
			return nil, err
		}
	}

	if err := root.AddSymlink("/var", "/perm/var"); err != nil {
		return nil, err
	}
	if err := root.AddSymlink("/etc/resolv.conf", "/tmp/resolv.conf"); err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(cfg.CABundle)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	boardJSON := map[string]any{
		"name":       b.Name,
		"management": b.Management.Name,
		"uplink":     b.Uplink.Name,
		"rack":       b.Rack.Name,
		"boot":       b.Boot,
	}
	servicesJSON, err := json.MarshalIndent(services, "", "  ")
	if err != nil {
		return nil, err
	}
	boardBytes, err := json.MarshalIndent(boardJSON, "", "  ")
	if err != nil {
		return nil, err
	}
	manifestBytes, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	for _, f := range []File{
		{Path: "/etc/hostname", Data: []byte(cfg.Hostname + "\n")},
		{Path: "/etc/hosts", Data: []byte("127.0.0.1 localhost\n::1 localhost\n127.0.1.1 " + cfg.Hostname + "\n")},
		{Path: caBundleOnBox, Data: ca},
		{Path: layout.ServicesPath, Data: append(servicesJSON, '\n')},
		{Path: layout.BoardPath, Data: append(boardBytes, '\n')},
		{Path: layout.ManifestPath, Data: append(manifestBytes, '\n')},
	} {
		if err := add(f.Path, 0o644, f.Data); err != nil {
			return nil, err
		}
	}
	if _, err := root.MkdirAll(layout.UpdateKeysDir); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(cfg.UpdateKeys))
	for n := range cfg.UpdateKeys {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := add(path.Join(layout.UpdateKeysDir, n), 0o644, cfg.UpdateKeys[n]); err != nil {
			return nil, err
		}
	}

	// Kernel modules, if the kernel package ships any.
	modules := filepath.Join(kernelDir, "lib", "modules")
	if _, err := os.Stat(modules); err == nil {
		err := filepath.WalkDir(modules, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(kernelDir, p)
			onBox := "/" + filepath.ToSlash(rel)
			switch {
			case d.IsDir():
				_, err := root.MkdirAll(onBox)
				return err
			case d.Type()&fs.ModeSymlink != 0:
				target, err := os.Readlink(p)
				if err != nil {
					return err
				}
				return root.AddSymlink(onBox, target)
			default:
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				return add(onBox, 0o644, data)
			}
		})
		if err != nil {
			return nil, fmt.Errorf("kernel modules: %w", err)
		}
	}
	return root, nil
}

// bootFiles lists the boot partition's content.
func (cfg *Config) bootFiles(l layout.Disk, kernelDir, firmwareDir string) ([]File, error) {
	b := cfg.Board
	kernel, err := os.ReadFile(filepath.Join(kernelDir, "vmlinuz"))
	if err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}
	files := []File{{Path: layout.KernelPath(b, layout.SlotA), Data: kernel}}
	switch b.Boot {
	case boards.BootUEFI:
		efi, err := os.ReadFile(cfg.SystemdBoot)
		if err != nil {
			return nil, fmt.Errorf("systemd-boot (Debian package systemd-boot-efi): %w", err)
		}
		files = append(files,
			File{Path: layout.SystemdBootEFI, Data: efi},
			File{Path: layout.LoaderConf, Data: []byte(layout.LoaderConfig())},
			File{Path: layout.LoaderEntryPath(layout.SlotA, 0), Data: []byte(layout.LoaderEntry(b, l, layout.SlotA, cfg.Version))},
		)
	case boards.BootRPi:
		fw, err := globFiles(firmwareDir, "", "bootcode.bin", "start*.elf", "fixup*.dat")
		if err != nil {
			return nil, err
		}
		dtbs, err := globFiles(kernelDir, "", "*.dtb")
		if err != nil {
			return nil, err
		}
		overlays, err := globFiles(filepath.Join(kernelDir, "overlays"), "/overlays", "*.dtbo", "overlay_map.dtb")
		if err != nil {
			return nil, err
		}
		files = append(files, fw...)
		files = append(files, dtbs...)
		files = append(files, overlays...)
		have := map[string]bool{}
		for _, f := range dtbs {
			have[f.Path] = true
		}
		for _, want := range b.DeviceTrees {
			if !have["/"+want] {
				return nil, fmt.Errorf("kernel module %s lacks %s", b.KernelModule, want)
			}
		}
		files = append(files,
			File{Path: layout.RPiConfig, Data: []byte(layout.RPiConfigTxt(b, layout.SlotA))},
			File{Path: layout.RPiCmdlinePath(layout.SlotA), Data: []byte(layout.KernelCmdline(b, l, layout.SlotA) + "\n")},
		)
	}
	return files, nil
}

// globFiles reads the files in dir matching any pattern, to be placed under
// prefix on the boot partition.
func globFiles(dir, prefix string, patterns ...string) ([]File, error) {
	var files []File
	for _, pat := range patterns {
		matches, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("no %s in %s", pat, dir)
		}
		sort.Strings(matches)
		for _, m := range matches {
			data, err := os.ReadFile(m)
			if err != nil {
				return nil, err
			}
			files = append(files, File{Path: prefix + "/" + filepath.Base(m), Data: data})
		}
	}
	return files, nil
}
