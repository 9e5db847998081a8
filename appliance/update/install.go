package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/layout"
)

// InstallOptions are the caller's choices for one install.
type InstallOptions struct {
	// AllowDowngrade permits a version not newer than the running one
	// (never one below the box's version floor). The HTTP layers set it
	// only for a request that re-entered the admin password.
	AllowDowngrade bool
	// NoReboot leaves the box armed without rebooting (tests, or an
	// operator who reboots later).
	NoReboot bool

	// beforeWrite runs once the whole bundle is spooled and before the
	// spare slot is touched; an error refuses the bundle. The channel
	// follower checks the download against its index here.
	beforeWrite func() error
}

// spoolMargin is free space kept on /perm beyond the bundle's parts, so an
// update never fills the config's file system.
const spoolMargin = 16 << 20

// Install verifies bundle r completely, writes it into the inactive slot,
// reads the slot back, arms the boot loader and (unless opt.NoReboot)
// reboots. A *bundle.Error means the bundle was refused and nothing was
// written to any slot or the boot partition.
//
// Order of the steps, and why:
//  1. header, signature, product, board, version policy and the box's
//     version floor (bundle.Open);
//  2. every part spooled to /perm while hashed: a truncated or corrupted
//     bundle is refused here, before anything touches a slot;
//  3. the inactive slot is disarmed (its boot entry and kernel removed):
//     from now on a power cut leaves a half-written slot that nothing boots;
//  4. the root is streamed into the slot, synced, and read back and hashed;
//  5. the kernel, then the new entry, then the running slot's entry loses
//     its sort-key (never before the new entry exists: until then it is
//     the only bootable one), then the reboot.
func (a *Agent) Install(ctx context.Context, r io.Reader, opt InstallOptions) (*Attempt, error) {
	if !a.tryLock() {
		return nil, errBusy
	}
	defer a.install.Unlock()
	defer a.setProgress(Progress{})
	a.mu.Lock()
	pending := a.rebootPending
	a.mu.Unlock()
	if pending {
		return nil, errors.New("the box is rebooting into an update")
	}
	if a.running == "" {
		return nil, errors.New("cannot tell which slot runs (no rackwall.slot= on the kernel command line); refusing to write either")
	}
	// Ask the boot partition, not memory: AfterBoot may not have judged
	// this boot yet, and overwriting the other slot now would take away
	// the fallback of a slot still on trial.
	var as Assessment
	if err := a.withBoot(func(bfs BootFS) error {
		var err error
		as, err = a.scheme.Assess(bfs, a.running)
		return err
	}); err != nil {
		return nil, err
	}
	if as.Trial {
		return nil, errors.New("the running slot is still on trial; wait until it is blessed")
	}
	started := a.cfg.Now()
	a.setProgress(Progress{Active: true, Phase: "receiving"})
	target := Other(a.running)

	refused := func(err error) (*Attempt, error) {
		var be *bundle.Error
		if errors.As(err, &be) {
			now := a.cfg.Now()
			a.saveAttempt(Attempt{Result: ResultRefused, Reason: be.Reason, Started: started, Finished: &now, From: a.cfg.RunningVersion})
		}
		return nil, err
	}

	br, err := bundle.Open(r, bundle.Policy{Board: a.cfg.Board.Name, Keys: a.cfg.Keys,
		RunningVersion: a.cfg.RunningVersion, AllowDowngrade: opt.AllowDowngrade, Floor: a.Floor()})
	if err != nil {
		return refused(err)
	}
	m := br.Manifest
	want := []string{bundle.PartKernel, bundle.PartEntry, bundle.PartRoot}
	var total int64
	for _, name := range want {
		p, ok := m.Part(name)
		if !ok {
			return refused(&bundle.Error{Reason: fmt.Sprintf("bundle lacks its %s part", name)})
		}
		total += p.Size
	}
	if len(m.Parts) != len(want) {
		return refused(&bundle.Error{Reason: fmt.Sprintf("bundle has %d parts; a slot update has exactly %s", len(m.Parts), strings.Join(want, ", "))})
	}
	rootPart, _ := m.Part(bundle.PartRoot)
	slotSize := a.layout.Parts[target.Partition()-1].Size()
	if rootPart.Size > slotSize {
		return refused(&bundle.Error{Reason: fmt.Sprintf("root file system (%d bytes) does not fit a slot (%d bytes)", rootPart.Size, slotSize)})
	}
	if kp, _ := m.Part(bundle.PartKernel); kp.Size > 256<<20 {
		return refused(&bundle.Error{Reason: fmt.Sprintf("kernel of %d bytes is implausibly large", kp.Size)})
	}
	if ep, _ := m.Part(bundle.PartEntry); ep.Size > maxTemplate {
		return refused(&bundle.Error{Reason: fmt.Sprintf("boot entry template of %d bytes is too large", ep.Size)})
	}

	// 2. Spool.
	if err := os.MkdirAll(a.spoolDir(), 0o700); err != nil {
		return nil, err
	}
	if free, err := freeBytes(a.spoolDir()); err == nil && free < uint64(total)+spoolMargin {
		return nil, fmt.Errorf("not enough room on /perm to receive the bundle: %d MiB free, %d MiB needed",
			free>>20, (uint64(total)+spoolMargin)>>20)
	}
	a.setProgress(Progress{Active: true, Phase: "receiving", Total: total})
	spooled := map[string]*os.File{}
	defer func() {
		for _, f := range spooled {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	for {
		p, pr, err := br.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return refused(err)
		}
		f, err := os.CreateTemp(a.spoolDir(), p.Name+"-*")
		if err != nil {
			return nil, err
		}
		spooled[p.Name] = f
		if _, err := copyCtx(ctx, f, pr, a.addDone); err != nil {
			return refused(err)
		}
		if err := f.Sync(); err != nil {
			return nil, fmt.Errorf("spooling %s: %w", p.Name, err)
		}
	}
	if opt.beforeWrite != nil {
		if err := opt.beforeWrite(); err != nil {
			return refused(err)
		}
	}
	kernel, err := readSpool(spooled[bundle.PartKernel])
	if err != nil {
		return nil, err
	}
	tmpl, err := readSpool(spooled[bundle.PartEntry])
	if err != nil {
		return nil, err
	}
	entry, err := RenderEntry(string(tmpl), a.cfg.Board, a.layout, target)
	if err != nil {
		return refused(&bundle.Error{Reason: err.Error()})
	}

	at := Attempt{Result: ResultInstalling, Slot: string(target), Version: m.Version, From: a.cfg.RunningVersion, Started: started,
		MinVersion: m.MinVersion}
	a.saveAttempt(at)
	fail := func(err error) (*Attempt, error) {
		now := a.cfg.Now()
		at.Result, at.Reason, at.Finished = ResultFailed, err.Error(), &now
		a.saveAttempt(at)
		return nil, err
	}

	// 3. Disarm the target slot before touching it.
	if err := a.withBoot(func(bfs BootFS) error { return a.scheme.Disarm(bfs, target) }); err != nil {
		return fail(fmt.Errorf("disarming slot %s: %w", target, err))
	}
	// 4. Write the root and read it back.
	dev, err := a.cfg.Machine.SlotDevice(target)
	if err != nil {
		return fail(err)
	}
	a.setProgress(Progress{Active: true, Phase: "writing", Total: rootPart.Size})
	if err := writeSlot(ctx, dev, spooled[bundle.PartRoot], rootPart, a.addDone); err != nil {
		return fail(fmt.Errorf("writing slot %s: %w", target, err))
	}
	a.setProgress(Progress{Active: true, Phase: "verifying", Total: rootPart.Size})
	if err := verifySlot(dev, rootPart, a.addDone); err != nil {
		return fail(fmt.Errorf("slot %s read back wrong: %w", target, err))
	}
	// 5. Arm.
	a.setProgress(Progress{Active: true, Phase: "arming"})
	if err := a.withBoot(func(bfs BootFS) error {
		return a.scheme.Arm(bfs, target, kernel, entry, a.cfg.Tries)
	}); err != nil {
		return fail(fmt.Errorf("arming slot %s: %w", target, err))
	}
	at.Result = ResultTrying
	at.ArmedBoot, _ = a.cfg.Machine.BootID()
	a.saveAttempt(at)
	a.mu.Lock()
	a.versions[target] = strconv.FormatInt(m.Version, 10)
	a.mu.Unlock()
	a.cfg.Logger.Info("update: slot armed", "slot", target, "version", m.Version)
	if !opt.NoReboot {
		a.setProgress(Progress{Active: true, Phase: "rebooting"})
		a.rebootSoon(a.scheme.RebootArgument())
	}
	return &at, nil
}

func readSpool(f *os.File) ([]byte, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}

// copyCtx copies in 1 MiB steps, reporting progress and stopping when ctx
// ends.
func copyCtx(ctx context.Context, w io.Writer, r io.Reader, progress func(int64)) (int64, error) {
	buf := make([]byte, 1<<20)
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		k, rerr := r.Read(buf)
		if k > 0 {
			if _, err := w.Write(buf[:k]); err != nil {
				return n, err
			}
			n += int64(k)
			progress(int64(k))
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

// writeSlot streams the spooled root into the slot device, hashing what it
// writes, and syncs.
func writeSlot(ctx context.Context, dev string, src *os.File, p bundle.Part, progress func(int64)) error {
	if _, err := src.Seek(0, io.SeekStart); err != nil {
		return err
	}
	f, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	n, err := copyCtx(ctx, io.MultiWriter(f, h), io.LimitReader(src, p.Size+1), progress)
	if err != nil {
		return err
	}
	if n != p.Size || hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
		return fmt.Errorf("the spooled root changed on /perm (%d bytes, want %d)", n, p.Size)
	}
	if err := f.Sync(); err != nil {
		return err
	}
	return f.Close()
}

// verifySlot reads the slot back (after asking the kernel to drop its
// cached copy, so the bytes come from the device) and compares the hash.
func verifySlot(dev string, p bundle.Part, progress func(int64)) error {
	f, err := os.Open(dev)
	if err != nil {
		return err
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, p.Size, unix.FADV_DONTNEED)
	h := sha256.New()
	n, err := copyCtx(context.Background(), h, io.LimitReader(f, p.Size), progress)
	if err != nil {
		return err
	}
	if n != p.Size {
		return fmt.Errorf("read %d of %d bytes", n, p.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return fmt.Errorf("sha256 %s, bundle says %s", got, p.SHA256)
	}
	return nil
}

func freeBytes(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// RunningSlot reads rackwall.slot= from a kernel command line.
func RunningSlot(cmdline string) (layout.Slot, error) {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, "rackwall.slot="); ok {
			switch layout.Slot(v) {
			case layout.SlotA, layout.SlotB:
				return layout.Slot(v), nil
			}
			return "", fmt.Errorf("rackwall.slot=%q is not a slot", v)
		}
	}
	return "", errors.New("the kernel command line has no rackwall.slot=")
}
