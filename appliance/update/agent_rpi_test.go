package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/layout"
)

// fakePi is a Raspberry Pi made of files; powerOn plays the firmware.
type fakePi struct {
	t       *testing.T
	dir     string
	ts      trybootScheme
	running layout.Slot
	boots   int
	rebootC chan string
}

func newFakePi(t *testing.T) *fakePi {
	b, err := boards.Lookup("rpi4")
	mustNo(t, err)
	l, err := layout.New(b)
	mustNo(t, err)
	p := &fakePi{t: t, dir: t.TempDir(), ts: trybootScheme{board: b, layout: l}, running: layout.SlotA, rebootC: make(chan string, 4)}
	boot := DirFS(filepath.Join(p.dir, "boot"))
	mustNo(t, boot.WriteFile(layout.KernelPath(b, layout.SlotA), []byte("kernel v1")))
	mustNo(t, boot.WriteFile(layout.RPiConfig, []byte(layout.RPiConfigTxt(b, layout.SlotA))))
	mustNo(t, boot.WriteFile(layout.RPiCmdlinePath(layout.SlotA), []byte(layout.KernelCmdline(b, l, layout.SlotA)+"\n")))
	for _, s := range []string{"a", "b"} {
		mustNo(t, os.WriteFile(filepath.Join(p.dir, "slot-"+s), nil, 0o644))
	}
	return p
}

func (p *fakePi) Cmdline() (string, error) {
	return layout.KernelCmdline(p.ts.board, p.ts.layout, p.running), nil
}
func (p *fakePi) SlotDevice(s layout.Slot) (string, error) {
	return filepath.Join(p.dir, "slot-"+string(s)), nil
}
func (p *fakePi) MountBoot() (string, func() error, error) {
	return filepath.Join(p.dir, "boot"), func() error { return nil }, nil
}
func (p *fakePi) Reboot(arg string) error { p.rebootC <- arg; return nil }
func (p *fakePi) BootID() (string, error) { return fmt.Sprint(p.boots), nil }
func (p *fakePi) powerOn(tryboot bool) layout.Slot {
	p.boots++
	file := layout.RPiConfig
	boot := DirFS(filepath.Join(p.dir, "boot"))
	if _, err := boot.ReadFile(layout.RPiTryConfig); err == nil && tryboot {
		file = layout.RPiTryConfig
	}
	s, err := ConfigSlot(boot, p.ts.board, file)
	mustNo(p.t, err)
	p.running = s
	return s
}

func (p *fakePi) agent(pub ed25519.PublicKey, version int64) *Agent {
	a, err := New(Config{Board: p.ts.board, Keys: []ed25519.PublicKey{pub}, RunningVersion: version, StateDir: filepath.Join(p.dir, "perm"),
		Machine: p, RebootDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	mustNo(p.t, err)
	return a
}

func piBundle(t *testing.T, key ed25519.PrivateKey, version int64) []byte {
	b, _ := boards.Lookup("rpi4")
	tmpl, err := layout.SlotEntryTemplate(b, fmt.Sprint(version), "")
	mustNo(t, err)
	src := func(name, data string) bundle.Source {
		return bundle.Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(data)), nil }}
	}
	var buf bytes.Buffer
	mustNo(t, bundle.Write(&buf, bundle.Manifest{Product: bundle.Product, Board: "rpi4", Version: version, BuildTime: time.Unix(1, 0)}, key,
		[]bundle.Source{src(bundle.PartKernel, "pi kernel"), src(bundle.PartEntry, tmpl), src(bundle.PartRoot, "pi root")}))
	return buf.Bytes()
}

func TestAgentRPiTryboot(t *testing.T) {
	p := newFakePi(t)
	pub, priv := keys(t)
	a := p.agent(pub, 1)
	if _, err := a.Install(context.Background(), bytes.NewReader(piBundle(t, priv, 2)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	if arg := <-p.rebootC; arg != "0 tryboot" {
		t.Fatalf("reboot argument %q", arg)
	}
	if p.powerOn(true) != layout.SlotB {
		t.Fatal("tryboot did not start slot b")
	}
	a2 := p.agent(pub, 2)
	rep, err := a2.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if !rep.Trial || !rep.Blessed {
		t.Fatalf("report %+v", rep)
	}
	if p.powerOn(false) != layout.SlotB {
		t.Fatal("commit did not stick")
	}

	// A second update whose kernel never comes up: the firmware's next
	// plain boot is the committed slot, and the agent says what happened.
	if _, err := a2.Install(context.Background(), bytes.NewReader(piBundle(t, priv, 3)), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	<-p.rebootC
	if p.powerOn(true) != layout.SlotA {
		t.Fatal("no trial of slot a")
	}
	// ... it hangs; the watchdog resets the board: a plain boot.
	if p.powerOn(false) != layout.SlotB {
		t.Fatal("no fallback to b")
	}
	a3 := p.agent(pub, 2)
	rep, err = a3.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if rep.Result != ResultFailed || !strings.Contains(rep.Reason, "never passed its trial boot") {
		t.Fatalf("fallback report %+v", rep)
	}
	if _, err := DirFS(filepath.Join(p.dir, "boot")).ReadFile(layout.RPiTryConfig); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tryboot.txt left after cleanup: %v", err)
	}
}
