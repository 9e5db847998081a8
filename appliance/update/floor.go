package update

import (
	"fmt"
	"path/filepath"
)

// The version floor. A bundle may carry a signed MinVersion ("versions
// below N must never be installed again on a box that ran this"). The box
// takes it on when it has run that bundle's system: when the slot passes
// its trial and is blessed, not when it is merely armed, so a release that
// never booted cannot lock the box out of the one it fell back to. The
// floor only ever rises. It lives in its own small file next to the update
// record on /perm, so a damaged record cannot take it along.

// floorRecord is version-floor.json.
type floorRecord struct {
	MinVersion int64 `json:"min_version"`
	SetBy      int64 `json:"set_by_version"` // the version whose bundle set it
}

func (a *Agent) floorPath() string { return filepath.Join(a.cfg.StateDir, "version-floor.json") }

// loadFloor reads the floor. A missing file is floor 0.
func loadFloor(path string) (floorRecord, error) {
	f, err := readState[floorRecord](path)
	if err != nil {
		return f, err
	}
	if f.MinVersion < 0 {
		return floorRecord{}, fmt.Errorf("negative minimum version %d", f.MinVersion)
	}
	return f, nil
}

// initFloor loads the floor at start. An unreadable floor fails closed at
// the running version: nothing older than what runs can be installed, and
// updates still work, so the box stays maintainable.
func (a *Agent) initFloor() {
	f, err := loadFloor(a.floorPath())
	if err != nil {
		a.cfg.Logger.Error("update: the version floor is unreadable; using the running version as the floor",
			"file", a.floorPath(), "err", err, "floor", a.cfg.RunningVersion)
		f = floorRecord{MinVersion: a.cfg.RunningVersion, SetBy: a.cfg.RunningVersion}
	}
	a.floor = f
}

// Floor is the lowest version this box may install.
func (a *Agent) Floor() int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.floor.MinVersion
}

// raiseFloor takes on min, set by the bundle of version by, if it is above
// the current floor. The file is written before memory changes, so the
// floor the agent enforces is never one a reboot would forget.
func (a *Agent) raiseFloor(min, by int64) {
	a.mu.Lock()
	cur := a.floor
	a.mu.Unlock()
	if min <= cur.MinVersion {
		return
	}
	next := floorRecord{MinVersion: min, SetBy: by}
	if err := writeState(a.floorPath(), next); err != nil {
		a.cfg.Logger.Error("update: recording the version floor", "floor", min, "err", err)
		return
	}
	a.mu.Lock()
	a.floor = next
	a.mu.Unlock()
	a.cfg.Logger.Info("update: version floor raised", "floor", min, "set_by_version", by)
}
