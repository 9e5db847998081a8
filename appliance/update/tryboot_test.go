package update

import (
	"testing"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

func factoryRPi(t *testing.T) (*memFS, trybootScheme) {
	b, err := boards.Lookup("rpi4")
	if err != nil {
		t.Fatal(err)
	}
	l, err := layout.New(b)
	if err != nil {
		t.Fatal(err)
	}
	m := newMemFS()
	m.files[layout.KernelPath(b, layout.SlotA)] = []byte("kernel v1")
	m.files[layout.RPiConfig] = []byte(layout.RPiConfigTxt(b, layout.SlotA))
	m.files[layout.RPiCmdlinePath(layout.SlotA)] = []byte(layout.KernelCmdline(b, l, layout.SlotA) + "\n")
	return m, trybootScheme{board: b, layout: l}
}

// piBoot is the firmware: tryboot.txt once after a "0 tryboot" reboot,
// config.txt otherwise. It checks the chosen slot's kernel and command
// line exist.
func piBoot(t *testing.T, m *memFS, ts trybootScheme, tryboot bool) layout.Slot {
	t.Helper()
	file := layout.RPiConfig
	if _, ok := m.files[layout.RPiTryConfig]; ok && tryboot {
		file = layout.RPiTryConfig
	}
	s, err := ConfigSlot(m, ts.board, file)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{layout.KernelPath(ts.board, s), layout.RPiCmdlinePath(s)} {
		if _, ok := m.files[p]; !ok {
			t.Fatalf("firmware starts slot %s but %s is missing", s, p)
		}
	}
	return s
}

func armPi(t *testing.T, m *memFS, ts trybootScheme, s layout.Slot) {
	t.Helper()
	tmpl, err := layout.SlotEntryTemplate(ts.board, "2", "")
	mustNo(t, err)
	cmdline, err := RenderEntry(tmpl, ts.board, ts.layout, s)
	mustNo(t, err)
	if cmdline != layout.KernelCmdline(ts.board, ts.layout, s) {
		t.Fatalf("rendered command line %q differs from the image builder's", cmdline)
	}
	mustNo(t, ts.Disarm(m, s))
	mustNo(t, ts.Arm(m, s, []byte("kernel v2"), cmdline, DefaultTries))
}

func TestTrybootCommit(t *testing.T) {
	m, ts := factoryRPi(t)
	armPi(t, m, ts, layout.SlotB)
	if got := piBoot(t, m, ts, true); got != layout.SlotB {
		t.Fatalf("tryboot reboot starts %s", got)
	}
	as, err := ts.Assess(m, layout.SlotB)
	mustNo(t, err)
	if !as.Trial || as.Next != layout.SlotA {
		t.Fatalf("trial not detected: %+v", as)
	}
	mustNo(t, ts.Bless(m, layout.SlotB))
	if _, ok := m.files[layout.RPiTryConfig]; ok {
		t.Fatal("tryboot.txt left after commit")
	}
	for _, try := range []bool{false, true} {
		if got := piBoot(t, m, ts, try); got != layout.SlotB {
			t.Fatalf("after commit (tryboot=%v) starts %s", try, got)
		}
	}
	as, _ = ts.Assess(m, layout.SlotB)
	if as.Trial {
		t.Fatal("still on trial after commit")
	}
	// Update back into A.
	armPi(t, m, ts, layout.SlotA)
	if got := piBoot(t, m, ts, true); got != layout.SlotA {
		t.Fatalf("second update starts %s", got)
	}
	mustNo(t, ts.Bless(m, layout.SlotA))
	if got := piBoot(t, m, ts, false); got != layout.SlotA {
		t.Fatalf("after second commit starts %s", got)
	}
}

func TestTrybootFailedTrialFallsBack(t *testing.T) {
	m, ts := factoryRPi(t)
	armPi(t, m, ts, layout.SlotB)
	if got := piBoot(t, m, ts, true); got != layout.SlotB {
		t.Fatal("trial did not start")
	}
	// Health check fails: reject, plain reboot.
	mustNo(t, ts.Reject(m, layout.SlotB))
	if got := piBoot(t, m, ts, false); got != layout.SlotA {
		t.Fatalf("after a failed trial starts %s", got)
	}
	// A crash or watchdog reset during the trial is a plain reboot too.
	armPi(t, m, ts, layout.SlotB)
	piBoot(t, m, ts, true)
	if got := piBoot(t, m, ts, false); got != layout.SlotA {
		t.Fatalf("after a crash during the trial starts %s", got)
	}
	as, _ := ts.Assess(m, layout.SlotA)
	if as.Trial {
		t.Fatalf("old slot thinks it is on trial: %+v", as)
	}
	// Disarming the committed slot is refused.
	if err := ts.Disarm(m, layout.SlotA); err == nil {
		t.Fatal("disarmed the committed slot")
	}
}

func TestTrybootPowerCutAnywhere(t *testing.T) {
	for cut := 0; cut < 20; cut++ {
		m, ts := factoryRPi(t)
		m.changes, m.cutAfter = 0, cut
		tmpl, _ := layout.SlotEntryTemplate(ts.board, "2", "")
		cmdline, _ := RenderEntry(tmpl, ts.board, ts.layout, layout.SlotB)
		err := ts.Disarm(m, layout.SlotB)
		if err == nil {
			err = ts.Arm(m, layout.SlotB, []byte("kernel v2"), cmdline, 1)
		}
		m.cutAfter = -1
		// Power comes back: a plain boot, always slot A.
		if got := piBoot(t, m, ts, false); got != layout.SlotA {
			t.Fatalf("cut %d: boots %s", cut, got)
		}
		if err == nil {
			break
		}
		// Even a tryboot reboot must not reach a half-armed slot B:
		// tryboot.txt is written last.
		if got := piBoot(t, m, ts, true); got != layout.SlotA {
			t.Fatalf("cut %d: tryboot reaches half-armed slot %s", cut, got)
		}
	}
}
