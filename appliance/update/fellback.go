package update

import (
	"path/filepath"
	"slices"
)

// The versions this box fell back from. A version whose trial boot failed
// (its health check did not pass, or the boot loader ran out of tries) is
// remembered on /perm, and an update channel never installs it again by
// itself: a box would otherwise download, write and reboot into the same
// broken release at every check. An operator can still push it by hand.

// fellBackRecord is fell-back.json.
type fellBackRecord struct {
	Versions []int64 `json:"versions"`
}

// maxFellBack bounds the list; the oldest entries go first.
const maxFellBack = 64

func (a *Agent) fellBackPath() string { return filepath.Join(a.cfg.StateDir, "fell-back.json") }

func loadFellBack(path string) ([]int64, error) {
	r, err := readState[fellBackRecord](path)
	return r.Versions, err
}

// FellBackFrom lists the versions this box fell back from, oldest first.
func (a *Agent) FellBackFrom() []int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.fellBack)
}

func (a *Agent) fellBackFrom(v int64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Contains(a.fellBack, v)
}

// noteFellBack remembers that version v failed its trial on this box. The
// file is written before memory changes, so what the agent refuses is
// never something a reboot would forget.
func (a *Agent) noteFellBack(v int64) {
	if v <= 0 || a.fellBackFrom(v) {
		return
	}
	a.mu.Lock()
	next := append(slices.Clone(a.fellBack), v)
	a.mu.Unlock()
	if len(next) > maxFellBack {
		next = next[len(next)-maxFellBack:]
	}
	if err := writeState(a.fellBackPath(), fellBackRecord{Versions: next}); err != nil {
		a.cfg.Logger.Error("update: recording a version the box fell back from", "version", v, "err", err)
		return
	}
	a.mu.Lock()
	a.fellBack = next
	a.mu.Unlock()
	a.cfg.Logger.Info("update: version remembered as fallen back from; a channel will not install it again", "version", v)
}
