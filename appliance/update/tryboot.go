package update

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

// trybootScheme is the Raspberry Pi firmware's one-shot tryboot: after a
// reboot with the argument "0 tryboot" the firmware reads tryboot.txt
// instead of config.txt, once. Each slot has its own kernel= and cmdline=
// files, so arming writes the new slot's files and a tryboot.txt selecting
// them; committing rewrites config.txt the same way. Any reboot that is not
// a tryboot reboot (a crash, the watchdog, a power cut, a failed health
// check) starts config.txt's slot: the fallback needs no counter.
type trybootScheme struct {
	board  boards.Board
	layout layout.Disk
}

// Disarm removes tryboot.txt (so no tryboot reboot can reach slot s) and
// slot s's kernel and command line. config.txt's slot is never s here: the
// agent only disarms the inactive slot.
func (t trybootScheme) Disarm(bfs BootFS, s layout.Slot) error {
	cur, err := ConfigSlot(bfs, t.board, layout.RPiConfig)
	if err != nil {
		return err
	}
	if cur == s {
		return fmt.Errorf("slot %s is the committed slot; refusing to disarm it", s)
	}
	for _, p := range []string{layout.RPiTryConfig, layout.RPiCmdlinePath(s), layout.KernelPath(t.board, s)} {
		if err := bfs.Remove(p); err != nil {
			return err
		}
	}
	return nil
}

// Arm writes slot s's kernel and command line, then tryboot.txt. The
// command line (the bundle's rendered template) must be one line.
func (t trybootScheme) Arm(bfs BootFS, s layout.Slot, kernel []byte, cmdline string, _ int) error {
	cmdline = strings.TrimSpace(cmdline)
	if cmdline == "" || strings.ContainsAny(cmdline, "\n\r") {
		return errors.New("the command line must be one non-empty line")
	}
	if err := t.Disarm(bfs, s); err != nil {
		return err
	}
	if err := bfs.WriteFile(layout.KernelPath(t.board, s), kernel); err != nil {
		return err
	}
	if err := bfs.WriteFile(layout.RPiCmdlinePath(s), []byte(cmdline+"\n")); err != nil {
		return err
	}
	return bfs.WriteFile(layout.RPiTryConfig, []byte(layout.RPiConfigTxt(t.board, s)))
}

// Assess: the running slot is on trial when config.txt names the other
// slot. The firmware leaves no trace of a failed try, so OtherBad is never
// set here; the agent's state file tells a fallback apart.
func (t trybootScheme) Assess(bfs BootFS, running layout.Slot) (Assessment, error) {
	cur, err := ConfigSlot(bfs, t.board, layout.RPiConfig)
	if err != nil {
		return Assessment{}, err
	}
	a := Assessment{Running: running, Next: cur, Trial: cur != running}
	if _, err := bfs.ReadFile(layout.RPiTryConfig); err == nil {
		if ts, err := ConfigSlot(bfs, t.board, layout.RPiTryConfig); err == nil && ts != running {
			a.OtherTrial = true
		}
	}
	if _, err := bfs.ReadFile(layout.KernelPath(t.board, Other(running))); err == nil {
		a.OtherPresent = true
	}
	return a, nil
}

// Bless commits: config.txt selects the running slot, tryboot.txt goes.
func (t trybootScheme) Bless(bfs BootFS, running layout.Slot) error {
	if err := bfs.WriteFile(layout.RPiConfig, []byte(layout.RPiConfigTxt(t.board, running))); err != nil {
		return err
	}
	return bfs.Remove(layout.RPiTryConfig)
}

// Reject removes tryboot.txt; the reboot that follows is a plain one and
// the firmware reads config.txt.
func (t trybootScheme) Reject(bfs BootFS, _ layout.Slot) error {
	return bfs.Remove(layout.RPiTryConfig)
}

// RebootArgument makes the firmware read tryboot.txt once.
func (t trybootScheme) RebootArgument() string { return "0 tryboot" }

// ConfigSlot reads which slot a config.txt (or tryboot.txt) boots, from its
// kernel= line.
func ConfigSlot(bfs BootFS, b boards.Board, file string) (layout.Slot, error) {
	data, err := bfs.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s is missing", file)
	}
	if err != nil {
		return "", err
	}
	var kernel string
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "kernel="); ok {
			kernel = strings.TrimSpace(v)
		}
	}
	for _, s := range []layout.Slot{layout.SlotA, layout.SlotB} {
		if "/"+kernel == layout.KernelPath(b, s) {
			return s, nil
		}
	}
	return "", fmt.Errorf("%s: kernel=%q is not a rackwall slot", file, kernel)
}
