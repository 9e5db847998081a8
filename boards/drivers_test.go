package boards

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
)

// Every port driver a board names is built into that board's kernel: the
// box loads no kernel modules, so a driver shipped only as a .ko (after a
// kernel update moved it, say) would leave the port without an interface
// and the image would boot into a box that cannot forward.
func TestPortDriversAreBuiltIntoTheKernel(t *testing.T) {
	dirs := map[string]string{} // kernel module path -> its directory
	for _, name := range Names() {
		b, _ := Lookup(name)
		dir, ok := dirs[b.KernelModule]
		if !ok {
			var err error
			if dir, err = downloadedModule(b.KernelModule); err != nil {
				t.Fatal(err)
			}
			dirs[b.KernelModule] = dir
		}
		for _, p := range b.Ports {
			if p.Driver == "" {
				continue
			}
			if err := builtIn(dir, p.Driver); err != nil {
				t.Errorf("board %s, %s (%s): %v", name, p.Name, p.Label, err)
			}
		}
	}
}

// Each board names the driver of every port it has a fixed chip for; only
// the Raspberry Pi's USB adapters may be left open.
func TestFixedPortsNameTheirDriver(t *testing.T) {
	for _, name := range Names() {
		b, _ := Lookup(name)
		for i, p := range b.Ports {
			usb := b.Boot == BootRPi && i > 0
			if p.Driver == "" && !usb {
				t.Errorf("board %s: port %s (%s) names no driver", name, p.Name, p.Label)
			}
		}
	}
}

// builtIn tells a driver that is part of the kernel from one that is only
// a loadable module or missing.
func TestBuiltInReadsModulesBuiltin(t *testing.T) {
	dir := t.TempDir()
	mod := filepath.Join(dir, "lib", "modules", "7.1.3")
	if err := os.MkdirAll(filepath.Join(mod, "kernel/drivers/net/ethernet/intel/igc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(mod, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("modules.builtin", "kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko\nkernel/drivers/net/virtio_net.ko\n")
	write("modules.order", "kernel/drivers/net/ethernet/intel/igc/igc.ko\n")
	write("kernel/drivers/net/ethernet/intel/igc/igc.ko", "")
	for driver, want := range map[string]string{
		"e1000e":     "",
		"virtio_net": "",
		"virtio-net": "", // the kernel treats - and _ in module names alike
		"igc":        "loadable module",
		"igb":        "neither built into",
		"e1000":      "neither built into", // not a prefix match on e1000e
	} {
		err := builtIn(dir, driver)
		switch {
		case want == "" && err != nil:
			t.Errorf("builtIn(%s) = %v, want nil", driver, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("builtIn(%s) = %v, want an error saying %q", driver, err, want)
		}
	}
}

// downloadedModule returns the directory of a module the main module
// requires, downloading it into the module cache if it is not there yet.
func downloadedModule(modPath string) (string, error) {
	out, err := exec.Command("go", "mod", "download", "-json", modPath).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %v", modPath, err)
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download %s: %v", modPath, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: %s", modPath, m.Error)
	}
	return m.Dir, nil
}

// builtIn reports why driver is not part of the kernel in kernelDir (a
// gokrazy kernel module: vmlinuz and lib/modules/<release>/), or nil.
// modules.builtin lists what is compiled in, one object path a line;
// modules.order what is built as a loadable module.
func builtIn(kernelDir, driver string) error {
	releases, err := filepath.Glob(filepath.Join(kernelDir, "lib", "modules", "*", "modules.builtin"))
	if err != nil || len(releases) != 1 {
		return fmt.Errorf("want one lib/modules/*/modules.builtin in %s, found %v", kernelDir, releases)
	}
	release := filepath.Dir(releases[0])
	if found, err := listsModule(releases[0], driver); err != nil || found {
		return err
	}
	if found, err := listsModule(filepath.Join(release, "modules.order"), driver); err != nil {
		return err
	} else if found {
		return fmt.Errorf("driver %s is a loadable module in %s, and nothing on the box loads modules", driver, release)
	}
	return fmt.Errorf("driver %s is neither built into the kernel nor a module in %s", driver, release)
}

// listsModule reports whether the module list file names driver.
func listsModule(file, driver string) (bool, error) {
	f, err := os.Open(file)
	if err != nil {
		return false, err
	}
	defer f.Close()
	want := moduleName(driver)
	s := bufio.NewScanner(f)
	for s.Scan() {
		if moduleName(strings.TrimSuffix(path.Base(strings.TrimSpace(s.Text())), ".ko")) == want {
			return true, nil
		}
	}
	return false, s.Err()
}

// moduleName folds '-' into '_', as the kernel does when it compares module
// names.
func moduleName(s string) string { return strings.ReplaceAll(s, "-", "_") }
