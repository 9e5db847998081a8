package image

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

// Program is one main package compiled into the root file system.
type Program struct {
	Name    string   // file name under Dir
	Dir     string   // "/user" for rackwall's programs, "/gokrazy" for the runtime's helpers
	Package string   // import path of the main package
	Args    []string // command line when supervised
	// Supervised programs are started (and restarted) by init; the others
	// are only installed (e.g. tools the appliance runs itself).
	Supervised   bool
	WaitForClock bool
	// DHCPForManagement marks the management port's DHCP client: init
	// does not start it when the appliance's settings address the port
	// statically.
	DHCPForManagement bool
}

// Path is the program's absolute path on the box.
func (p Program) Path() string { return p.Dir + "/" + p.Name }

// InitPackage is rackwall's init (process 1).
const InitPackage = "github.com/rackwall/rackwall/appliance/cmd/init"

// DefaultPrograms is what a rackwall image runs on board b: gokrazy's DHCP
// client on the management port only (the bridge ports must never get an
// address), its NTP client and entropy seeder, and the appliance. The
// dataplane binary is installed next to the appliance, which starts it
// (and restarts it) itself, so init does not supervise it.
func DefaultPrograms(b boards.Board) []Program {
	return []Program{
		{Name: "dhcp", Dir: "/gokrazy", Package: "github.com/gokrazy/gokrazy/cmd/dhcp",
			Args: []string{"-interface", b.Management.Name}, Supervised: true, DHCPForManagement: true},
		{Name: "ntp", Dir: "/gokrazy", Package: "github.com/gokrazy/gokrazy/cmd/ntp", Supervised: true},
		{Name: "randomd", Dir: "/gokrazy", Package: "github.com/gokrazy/gokrazy/cmd/randomd", Supervised: true},
		{Name: "rackwall", Dir: "/user", Package: "github.com/rackwall/rackwall/appliance/cmd/rackwall",
			Args: []string{
				"--uplink", b.Uplink.Name,
				"--rack", b.Rack.Name,
				"--mgmt", b.Management.Name,
				"--listen", ":443",
				"--state", layout.StateDir,
			}, Supervised: true},
		{Name: "rackwall-dataplane", Dir: "/user", Package: "github.com/rackwall/rackwall/dataplane/cmd/rackwall-dataplane"},
	}
}

// goBuild compiles pkg for goarch into out, statically and reproducibly:
// no cgo, trimmed paths, no VCS stamping, an empty build id.
func goBuild(moduleDir, goarch, pkg, out string, ldflags ...string) error {
	args := []string{"build", "-o", out, "-trimpath", "-buildvcs=false",
		"-tags", "gokrazy,netgo,osusergo",
		"-ldflags", strings.Join(append([]string{"-s", "-w", "-buildid="}, ldflags...), " "),
		pkg}
	cmd := exec.Command("go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build %s (GOARCH=%s): %v\n%s", pkg, goarch, err, stderr.String())
	}
	return nil
}

// moduleDir returns the directory of module path (from the module cache),
// as resolved by the main module's go.mod.
func moduleDir(mainModuleDir, path string) (dir, version string, err error) {
	cmd := exec.Command("go", "list", "-m", "-json", path)
	cmd.Dir = mainModuleDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("go list -m %s: %v\n%s", path, err, stderr.String())
	}
	var m struct{ Dir, Version string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", "", err
	}
	if m.Dir == "" {
		// Listed but not downloaded yet.
		dl := exec.Command("go", "mod", "download", "-json", path+"@"+m.Version)
		dl.Dir = mainModuleDir
		out, err := dl.Output()
		if err != nil {
			return "", "", fmt.Errorf("go mod download %s: %v", path, err)
		}
		if err := json.Unmarshal(out, &m); err != nil {
			return "", "", err
		}
	}
	return filepath.Clean(m.Dir), m.Version, nil
}

// FindModuleRoot walks up from dir to the directory holding go.mod.
func FindModuleRoot(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above %s", dir)
		}
		dir = parent
	}
}
