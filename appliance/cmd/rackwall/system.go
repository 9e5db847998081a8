package main

import (
	"context"
	"encoding/json"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// onGokrazy reports whether this program runs on a rackwall image, where
// gokrazy's init is process 1.
func onGokrazy() bool {
	_, err := os.Stat("/gokrazy/init")
	return err == nil && os.Getenv("HOME") != "" && strings.HasPrefix(os.Getenv("HOME"), "/perm/")
}

// manifestPath is the image's build manifest.
const manifestPath = "/etc/rackwall/manifest.json"

// version is the firmware version from the image manifest, else the
// program's module version.
func version() string {
	if b, err := os.ReadFile(manifestPath); err == nil {
		var m struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &m) == nil && m.Version != "" {
			return m.Version
		}
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "unknown"
}

// bootSlot names the root slot the kernel was booted from ("a" or "b"),
// read from root= on the kernel command line; "" off the box.
func bootSlot() string {
	b, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return ""
	}
	return slotFromCmdline(string(b))
}

func slotFromCmdline(cmdline string) string {
	for _, f := range strings.Fields(cmdline) {
		v, ok := strings.CutPrefix(f, "root=")
		if !ok {
			continue
		}
		switch {
		case strings.HasSuffix(v, "/PARTNROFF=1"), strings.HasSuffix(v, "-02"):
			return "a"
		case strings.HasSuffix(v, "/PARTNROFF=2"), strings.HasSuffix(v, "-03"):
			return "b"
		}
	}
	return ""
}

// rebootFunc returns the reboot the UI offers: only on a box, where it goes
// through the firmware and boot loader (no kexec), so the A/B boot counting
// sees every boot. Elsewhere the appliance is one program among many and
// must not restart the machine.
func (a *box) rebootFunc() func(context.Context) error {
	if !a.onBox {
		return nil
	}
	return func(context.Context) error {
		a.log.Warn("rebooting")
		go func() {
			// Let the HTTP answer leave first.
			time.Sleep(500 * time.Millisecond)
			unix.Sync()
			// The config is written with fsync; a read-only perm makes sure
			// the journal is clean too. Failure (busy) is harmless after sync.
			_ = unix.Mount("", "/perm", "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
			if err := unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART); err != nil {
				a.log.Error("reboot failed", "err", err)
			}
		}()
		return nil
	}
}
