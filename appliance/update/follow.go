package update

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"path/filepath"
	"time"

	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/channel"
)

// Following an update channel (docs/update-channel.md). On a schedule the
// agent fetches the channel's signed index through the same guarded
// fetcher as a pushed URL, verifies it with the keys it trusts for
// bundles, and installs the entry for its board only if every rule holds:
// the index is not older than one already seen, the version is newer than
// the running one and not below the floor, this box never fell back from
// it, and the box is inside the rollout. The download is held to the
// index's size and SHA-256 before the slot is touched, then installed like
// any bundle (signature, board, version), armed and tried.

// ChannelSettings is what the box's settings say about the channel.
type ChannelSettings struct {
	URL        string        // https URL of the index; empty follows none
	Interval   time.Duration // between checks (jittered)
	NotifyOnly bool          // report a newer version instead of installing it
}

// Outcomes of a channel check.
const (
	ChannelInstalled = "installed"  // the new version is written and armed; the box reboots into it
	ChannelUpToDate  = "up_to_date" // the channel offers the running version
	ChannelAvailable = "available"  // notify mode: a newer version could be installed
	ChannelRefused   = "refused"    // the index or its entry was not acted on; Reason says why
	ChannelFailed    = "failed"     // the check could not be made (network, busy); Reason says what
)

// ChannelCheck is the outcome of one check.
type ChannelCheck struct {
	Time     time.Time `json:"time"`
	URL      string    `json:"url"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`
	Version  int64     `json:"version,omitempty"`  // the channel's version for this board
	Sequence int64     `json:"sequence,omitempty"` // of the index checked
}

// channelRecord is channel.json: the newest index accepted, so an older
// one (replayed by whoever sits between the box and the server) is
// refused, and the last check, shown after a reboot.
type channelRecord struct {
	Sequence  int64         `json:"sequence"`
	IndexHash string        `json:"index_sha256,omitempty"`
	LastCheck *ChannelCheck `json:"last_check,omitempty"`
}

func (a *Agent) channelPath() string { return filepath.Join(a.cfg.StateDir, "channel.json") }

func loadChannelRecord(path string) (channelRecord, error) {
	return readState[channelRecord](path)
}

func (a *Agent) saveChannelRecord(r channelRecord) error { return writeState(a.channelPath(), r) }

// SetChannel takes on the channel settings; a change of URL or mode makes
// the follower check soon instead of at the end of its current wait.
func (a *Agent) SetChannel(s ChannelSettings) {
	a.mu.Lock()
	changed := s != a.chSettings
	a.chSettings = s
	a.mu.Unlock()
	if changed {
		select {
		case a.chKick <- struct{}{}:
		default:
		}
	}
}

// OnChannelCheck sets fn to be told of every check's outcome (the
// appliance publishes it as an event).
func (a *Agent) OnChannelCheck(fn func(ChannelCheck)) {
	a.mu.Lock()
	a.chReport = fn
	a.mu.Unlock()
}

// Delays of the follower: the first check after start or a settings change
// comes within channelSoon, later ones every interval; each is jittered by
// ±channelJitter so a fleet that booted together does not check together.
const (
	channelSoon   = 2 * time.Minute
	channelJitter = 0.2
)

// jittered spreads d by ±channelJitter; r is uniform in [0, 1).
func jittered(d time.Duration, r float64) time.Duration {
	return time.Duration(float64(d) * (1 - channelJitter + 2*channelJitter*r))
}

// FollowChannel checks the channel on its schedule until ctx ends. It does
// nothing while no channel is set, while the running slot is on trial
// (nothing may be written until it is blessed) or while the box reboots.
func (a *Agent) FollowChannel(ctx context.Context) {
	wait := func(s ChannelSettings, soon bool) <-chan time.Time {
		if s.URL == "" || s.Interval <= 0 {
			return nil // until the settings change
		}
		d := s.Interval
		if soon {
			d = min(d, channelSoon)
		}
		return time.After(jittered(d, rand.Float64()))
	}
	soon := true
	for {
		a.mu.Lock()
		s := a.chSettings
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-a.chKick:
			soon = true
			continue
		case <-wait(s, soon):
		}
		a.mu.Lock()
		skip := a.rebootPending || !a.blessed
		a.mu.Unlock()
		// A trial is judged within minutes: look again soon rather than
		// a whole interval later.
		soon = skip
		if skip {
			continue
		}
		a.CheckChannel(ctx)
	}
}

// CheckChannel checks the channel now, records the outcome and reports it.
func (a *Agent) CheckChannel(ctx context.Context) ChannelCheck {
	a.mu.Lock()
	s := a.chSettings
	report := a.chReport
	a.mu.Unlock()
	chk := a.checkChannel(ctx, s)
	chk.Time = a.cfg.Now()
	chk.URL = safeURL(s.URL)
	a.chMu.Lock()
	a.chRecord.LastCheck = &chk
	rec := a.chRecord
	a.chMu.Unlock()
	if err := a.saveChannelRecord(rec); err != nil {
		a.cfg.Logger.Error("update: saving the channel state", "err", err)
	}
	a.cfg.Logger.Info("update: channel checked", "url", chk.URL, "outcome", chk.Outcome, "version", chk.Version, "reason", chk.Reason)
	if report != nil {
		report(chk)
	}
	return chk
}

// LastChannelCheck is the newest check's outcome, nil before the first.
func (a *Agent) LastChannelCheck() *ChannelCheck {
	a.chMu.Lock()
	defer a.chMu.Unlock()
	if a.chRecord.LastCheck == nil {
		return nil
	}
	c := *a.chRecord.LastCheck
	return &c
}

func refusedCheck(format string, args ...any) ChannelCheck {
	return ChannelCheck{Outcome: ChannelRefused, Reason: fmt.Sprintf(format, args...)}
}

// errChannelFetch is all a check reports of a fetch that failed on the
// network; the details are in the log (see Fetcher).
const errChannelFetch = "the index could not be fetched (the box's log says why)"

func (a *Agent) checkChannel(ctx context.Context, s ChannelSettings) ChannelCheck {
	if s.URL == "" {
		return ChannelCheck{Outcome: ChannelFailed, Reason: "no update channel is set"}
	}
	data, err := a.fetchIndex(ctx, s.URL)
	if err != nil {
		return ChannelCheck{Outcome: ChannelFailed, Reason: err.Error()}
	}
	ix, err := channel.Open(data, a.cfg.Keys)
	if err != nil {
		var ce *channel.Error
		if errors.As(err, &ce) {
			return refusedCheck("%s", ce.Reason)
		}
		return refusedCheck("%v", err)
	}
	if chk, ok := a.acceptSequence(ix, data); !ok {
		return chk
	}
	board := a.cfg.Board.Name
	e, ok := ix.Entry(board)
	if !ok {
		chk := refusedCheck("the channel %q lists no bundle for this box's board %s", ix.Channel, board)
		chk.Sequence = ix.Sequence
		return chk
	}
	chk := a.judgeEntry(e)
	chk.Version, chk.Sequence = e.Version, ix.Sequence
	if chk.Outcome != "" {
		return chk
	}
	if s.NotifyOnly {
		chk.Outcome, chk.Reason = ChannelAvailable, fmt.Sprintf("version %d is available (the box only reports it: update_mode is notify)", e.Version)
		return chk
	}
	if err := a.installEntry(ctx, e); err != nil {
		var be *bundle.Error
		if errors.As(err, &be) {
			chk.Outcome, chk.Reason = ChannelRefused, be.Reason
		} else {
			chk.Outcome, chk.Reason = ChannelFailed, err.Error()
		}
		return chk
	}
	chk.Outcome, chk.Reason = ChannelInstalled, fmt.Sprintf("version %d installed; the box reboots into it on trial", e.Version)
	return chk
}

// fetchIndex downloads the index; errors are fit to show.
func (a *Agent) fetchIndex(ctx context.Context, rawURL string) ([]byte, error) {
	body, err := a.cfg.Fetcher.open(ctx, rawURL)
	var fie *fetchInputError
	var fse *fetchStatusError
	switch {
	case errors.As(err, &fie):
		return nil, errors.New(fie.reason)
	case errors.As(err, &fse):
		return nil, errors.New("fetching the index: " + fse.Error())
	case err != nil:
		a.cfg.Logger.Warn("update: fetching the channel index failed", "url", safeURL(rawURL), "err", err)
		return nil, errors.New(errChannelFetch)
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, channel.MaxIndexBytes+1))
	if err != nil {
		a.cfg.Logger.Warn("update: reading the channel index failed", "url", safeURL(rawURL), "err", err)
		return nil, errors.New(errChannelFetch)
	}
	return data, nil
}

// acceptSequence refuses an index older than the newest one accepted, or
// one that reuses its sequence for other content, and otherwise remembers
// it as the newest.
func (a *Agent) acceptSequence(ix *channel.Index, data []byte) (ChannelCheck, bool) {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	a.chMu.Lock()
	defer a.chMu.Unlock()
	cur := a.chRecord
	switch {
	case ix.Sequence < cur.Sequence:
		chk := refusedCheck("the index has sequence %d, older than sequence %d this box already accepted (a replayed or stale index)", ix.Sequence, cur.Sequence)
		chk.Sequence = ix.Sequence
		return chk, false
	case ix.Sequence == cur.Sequence && cur.IndexHash != "" && h != cur.IndexHash:
		chk := refusedCheck("the index reuses sequence %d for different content; a new index needs a higher sequence", ix.Sequence)
		chk.Sequence = ix.Sequence
		return chk, false
	case ix.Sequence == cur.Sequence:
		return ChannelCheck{}, true
	}
	next := cur
	next.Sequence, next.IndexHash = ix.Sequence, h
	if err := a.saveChannelRecord(next); err != nil {
		// Without the record a replay could not be refused after a reboot.
		return ChannelCheck{Outcome: ChannelFailed, Reason: "recording the index's sequence on /perm: " + err.Error(), Sequence: ix.Sequence}, false
	}
	a.chRecord = next
	return ChannelCheck{}, true
}

// judgeEntry applies the box's rules to its board's entry; an empty
// Outcome means install.
func (a *Agent) judgeEntry(e channel.Entry) ChannelCheck {
	running := a.cfg.RunningVersion
	switch floor := a.Floor(); {
	case e.Version == running:
		return ChannelCheck{Outcome: ChannelUpToDate, Reason: fmt.Sprintf("the channel offers version %d, which runs", e.Version)}
	case e.Version < floor:
		return refusedCheck("version %d is below this box's minimum version %d", e.Version, floor)
	case e.Version < running:
		return refusedCheck("version %d is older than the running version %d; a channel never downgrades", e.Version, running)
	}
	if a.fellBackFrom(e.Version) {
		return refusedCheck("version %d failed its trial boot on this box before; a channel never installs it again (push it by hand to retry)", e.Version)
	}
	id, err := a.DeviceID()
	if err != nil {
		return ChannelCheck{Outcome: ChannelFailed, Reason: err.Error()}
	}
	if !channel.InRollout(id, e.Version, e.Rollout()) {
		return refusedCheck("this box is outside the %d %% rollout of version %d (its share is %d); it installs it once the rollout covers it",
			e.Rollout(), e.Version, channel.Bucket(id, e.Version)+1)
	}
	return ChannelCheck{}
}

// installEntry downloads the entry's bundle and installs it, holding the
// download to the index's size and hash before the slot is touched.
func (a *Agent) installEntry(ctx context.Context, e channel.Entry) error {
	body, err := a.cfg.Fetcher.open(ctx, e.URL)
	var fie *fetchInputError
	var fse *fetchStatusError
	switch {
	case errors.As(err, &fie):
		return errors.New("the bundle URL: " + fie.reason)
	case errors.As(err, &fse):
		return errors.New("fetching the bundle: " + fse.Error())
	case err != nil:
		a.cfg.Logger.Warn("update: fetching the channel's bundle failed", "url", safeURL(e.URL), "err", err)
		return errFetchFailed
	}
	defer body.Close()
	logBroken := func(err error) {
		a.cfg.Logger.Warn("update: the bundle download broke off", "url", safeURL(e.URL), "err", err)
	}
	dl := &indexedDownload{r: &fetchBody{rc: body, log: logBroken}, size: e.Size, sha256: e.SHA256, h: sha256.New()}
	_, err = a.Install(ctx, dl, InstallOptions{beforeWrite: dl.finish})
	return err
}

// indexedDownload holds a bundle download to the size and SHA-256 its
// channel index states: more bytes fail at once, and finish (called by
// Install once every part is spooled, before the slot is touched) checks
// the whole file.
type indexedDownload struct {
	r      io.Reader
	size   int64
	sha256 string
	h      hash.Hash
	n      int64
}

func (d *indexedDownload) Read(p []byte) (int, error) {
	n, err := d.r.Read(p)
	d.n += int64(n)
	if d.n > d.size {
		return 0, &bundle.Error{Reason: fmt.Sprintf("the download is larger than the %d bytes the channel index states", d.size)}
	}
	d.h.Write(p[:n])
	return n, err
}

func (d *indexedDownload) finish() error {
	if _, err := io.Copy(io.Discard, d); err != nil {
		return err
	}
	if d.n != d.size {
		return &bundle.Error{Reason: fmt.Sprintf("the download has %d bytes, the channel index states %d", d.n, d.size)}
	}
	if got := hex.EncodeToString(d.h.Sum(nil)); got != d.sha256 {
		return &bundle.Error{Reason: fmt.Sprintf("the download's sha256 is %s, the channel index states %s", got, d.sha256)}
	}
	return nil
}
