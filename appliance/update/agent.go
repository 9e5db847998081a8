package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

// Machine is what the agent needs from the box beyond files on /perm.
// LinuxMachine is the real one; tests use files and a fake reboot.
type Machine interface {
	// Cmdline is the kernel command line (/proc/cmdline).
	Cmdline() (string, error)
	// SlotDevice is the block device (or file) of slot s's root.
	SlotDevice(s layout.Slot) (string, error)
	// MountBoot makes the boot partition writable at dir until unmount.
	MountBoot() (dir string, unmount func() error, err error)
	// Reboot restarts through the boot loader (never kexec); arg is the
	// reboot argument ("" or "0 tryboot").
	Reboot(arg string) error
	// BootID changes with every boot (/proc/sys/kernel/random/boot_id).
	BootID() (string, error)
}

// Config is what an Agent is built from.
type Config struct {
	Board          boards.Board
	Keys           []ed25519.PublicKey // trusted bundle signers
	RunningVersion int64               // this root file system's version
	// StateDir holds the state file and the spool; it must be on /perm
	// (the spool needs room for a whole bundle).
	StateDir string
	Machine  Machine
	// Tries is how often a new slot is tried (default DefaultTries).
	Tries int
	// RebootDelay lets the HTTP answer leave before the box reboots
	// (default 2 s).
	RebootDelay time.Duration
	// Fetcher fetches bundles by URL (default: the zero Fetcher, https
	// only and never to the box itself or its link).
	Fetcher *Fetcher
	// PasswordConfirmed says whether a request re-entered the admin
	// password, which a downgrade needs. The appliance passes the web UI
	// guard's answer; nil confirms no request, so every downgrade is
	// refused.
	PasswordConfirmed func(context.Context) bool
	// PasswordHeader names the request header the guard reads the
	// re-entered password from, so a refusal can say what to send.
	PasswordHeader string
	Now            func() time.Time
	Logger         *slog.Logger
}

// Agent installs bundles and judges trial boots. It is safe for
// concurrent use; one update runs at a time.
type Agent struct {
	cfg    Config
	layout layout.Disk
	scheme scheme

	install sync.Mutex // held for a whole install

	mu       sync.Mutex
	bootMu   sync.Mutex // serializes use of the mounted boot partition
	progress Progress
	last     *Attempt
	health   string // last health check verdict during a trial
	blessed  bool   // this boot's slot is blessed (or was never on trial)
	trial    bool
	running  layout.Slot
	versions map[layout.Slot]string
	floor    floorRecord // the lowest version this box may install
	fellBack []int64     // versions whose trial failed here (fellback.go)

	rebootPending bool

	// The update channel (follow.go).
	chSettings ChannelSettings
	chReport   func(ChannelCheck)
	chKick     chan struct{}
	chMu       sync.Mutex // guards chRecord and its file
	chRecord   channelRecord
	idMu       sync.Mutex // guards the device id file
}

// Progress of a running update.
type Progress struct {
	Active bool   `json:"active"`
	Phase  string `json:"phase,omitempty"` // receiving, writing, verifying, arming, rebooting
	Done   int64  `json:"done_bytes"`
	Total  int64  `json:"total_bytes"`
}

// New makes an agent.
func New(cfg Config) (*Agent, error) {
	if cfg.Machine == nil || cfg.StateDir == "" {
		return nil, errors.New("update: Machine and StateDir are required")
	}
	if cfg.Tries == 0 {
		cfg.Tries = DefaultTries
	}
	if cfg.RebootDelay == 0 {
		cfg.RebootDelay = 2 * time.Second
	}
	if cfg.Fetcher == nil {
		cfg.Fetcher = &Fetcher{}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordConfirmed == nil {
		cfg.PasswordConfirmed = func(context.Context) bool { return false }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l, err := layout.New(cfg.Board)
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, layout: l, scheme: schemeFor(cfg.Board, l), versions: map[layout.Slot]string{},
		chKick: make(chan struct{}, 1)}
	rec, err := loadRecord(a.recordPath())
	if err != nil {
		cfg.Logger.Warn("update: unreadable state file; starting fresh", "err", err)
	}
	a.last = rec.Last
	a.initFloor()
	if a.fellBack, err = loadFellBack(a.fellBackPath()); err != nil {
		cfg.Logger.Error("update: the list of versions fallen back from is unreadable; a channel may offer one again", "err", err)
	}
	if a.chRecord, err = loadChannelRecord(a.channelPath()); err != nil {
		// The sequence is lost with it: the next index is accepted as
		// the newest (it is still signed), and the record starts over.
		cfg.Logger.Error("update: the channel state is unreadable; starting it over", "err", err)
	}
	if cmd, err := cfg.Machine.Cmdline(); err == nil {
		a.running, _ = RunningSlot(cmd)
	}
	a.versions[a.running] = fmt.Sprint(cfg.RunningVersion)
	return a, nil
}

func (a *Agent) recordPath() string { return filepath.Join(a.cfg.StateDir, "update.json") }
func (a *Agent) spoolDir() string   { return filepath.Join(a.cfg.StateDir, "spool") }

func (a *Agent) setProgress(p Progress) {
	a.mu.Lock()
	a.progress = p
	a.mu.Unlock()
}

func (a *Agent) addDone(n int64) {
	a.mu.Lock()
	a.progress.Done += n
	a.mu.Unlock()
}

// saveAttempt records at on /perm and in memory.
func (a *Agent) saveAttempt(at Attempt) {
	a.mu.Lock()
	a.last = &at
	a.mu.Unlock()
	if err := saveRecord(a.recordPath(), record{Last: &at}); err != nil {
		a.cfg.Logger.Error("update: saving the state file", "err", err)
	}
}

// withBoot mounts the boot partition for fn and unmounts it after. Only one
// caller at a time: the after-boot check and an install may both want it.
//
// No process is forked while the partition is mounted: a child forked in
// that window inherits copies of our open descriptors until its exec closes
// them, and a busy unmount is exactly what a child starting on a slow box
// (the dataplane, restarted by its supervisor) causes.
//
// A failed unmount after fn succeeded does not fail the operation: every
// BootFS write is synced before it returns, so what fn wrote is on disk; the
// mount is detached and goes away with its last user.
func (a *Agent) withBoot(fn func(BootFS) error) error {
	a.bootMu.Lock()
	defer a.bootMu.Unlock()
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	dir, unmount, err := a.cfg.Machine.MountBoot()
	if err != nil {
		return fmt.Errorf("mounting the boot partition: %w", err)
	}
	ferr := fn(DirFS(dir))
	if uerr := unmount(); uerr != nil {
		a.cfg.Logger.Warn("update: boot partition still busy after use; detached it", "dir", dir, "err", uerr)
	}
	return ferr
}

// rebootSoon reboots after RebootDelay so the caller's answer gets out.
func (a *Agent) rebootSoon(arg string) {
	a.mu.Lock()
	a.rebootPending = true
	a.mu.Unlock()
	go func() {
		time.Sleep(a.cfg.RebootDelay)
		a.cfg.Logger.Info("update: rebooting through the boot loader", "argument", arg)
		if err := a.cfg.Machine.Reboot(arg); err != nil {
			a.cfg.Logger.Error("update: reboot failed", "err", err)
		}
	}()
}

// Fetch downloads a bundle from rawURL and installs it. What went wrong on
// the network is logged, not returned: the caller learns only that the
// fetch failed (errFetchFailed), what the server answered, or what is wrong
// with the URL's text.
func (a *Agent) Fetch(ctx context.Context, rawURL string, opt InstallOptions) (*Attempt, error) {
	body, err := a.cfg.Fetcher.open(ctx, rawURL)
	var fie *fetchInputError
	var fse *fetchStatusError
	switch {
	case errors.As(err, &fie):
		return nil, &InputError{Reason: fie.reason}
	case errors.As(err, &fse):
		return nil, &InputError{Reason: "fetching the bundle: " + fse.Error()}
	case err != nil:
		a.cfg.Logger.Warn("update: fetching a bundle failed", "url", safeURL(rawURL), "err", err)
		return nil, errFetchFailed
	}
	defer body.Close()
	logBroken := func(err error) {
		a.cfg.Logger.Warn("update: the bundle download broke off", "url", safeURL(rawURL), "err", err)
	}
	return a.Install(ctx, &fetchBody{rc: body, log: logBroken}, opt)
}

func safeURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable)"
	}
	return logURL(u)
}

// InputError is a problem with what the client sent (not a refusal of a
// bundle's content, not a failure of the box).
type InputError struct{ Reason string }

func (e *InputError) Error() string { return e.Reason }

var errBusy = errors.New("an update is already running")

// tryLock takes the install lock without waiting.
func (a *Agent) tryLock() bool { return a.install.TryLock() }
