package update

import (
	"slices"
	"sort"

	"github.com/rackwall/rackwall/image/layout"
)

// SlotStatus is one slot in Status.
type SlotStatus struct {
	Slot    string `json:"slot"`
	Version string `json:"version,omitempty"` // empty: no bootable system known in the slot
	Running bool   `json:"running"`
}

// Status is GET /api/update/status.
type Status struct {
	Board          string       `json:"board"`
	Running        string       `json:"running_slot"`
	RunningVersion int64        `json:"running_version"`
	Floor          int64        `json:"version_floor"` // versions below it are never installed
	Trial          bool         `json:"trial"`         // this boot is a trial of a new slot
	Blessed        bool         `json:"blessed"`       // the running slot is kept
	Health         string       `json:"health,omitempty"`
	Slots          []SlotStatus `json:"slots"`
	Last           *Attempt     `json:"last,omitempty"`
	Progress       Progress     `json:"progress"`
	Rebooting      bool         `json:"rebooting"`
	// FellBackFrom lists the versions whose trial failed on this box; a
	// channel never installs them again.
	FellBackFrom []int64 `json:"fell_back_from,omitempty"`
	// Channel is the last update channel check, if any.
	Channel *ChannelCheck `json:"channel,omitempty"`
}

// Status reports the slots, the last update and a running one's progress.
func (a *Agent) Status() Status {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := Status{
		Board:          a.cfg.Board.Name,
		Running:        string(a.running),
		RunningVersion: a.cfg.RunningVersion,
		Trial:          a.trial && !a.blessed,
		Blessed:        a.blessed,
		Health:         a.health,
		Progress:       a.progress,
		Rebooting:      a.rebootPending,
		Floor:          a.floor.MinVersion,
	}
	for _, s := range []layout.Slot{layout.SlotA, layout.SlotB} {
		st.Slots = append(st.Slots, SlotStatus{Slot: string(s), Version: a.versions[s], Running: s == a.running})
	}
	sort.Slice(st.Slots, func(i, j int) bool { return st.Slots[i].Slot < st.Slots[j].Slot })
	if a.last != nil {
		l := *a.last
		st.Last = &l
	}
	st.FellBackFrom = slices.Clone(a.fellBack)
	st.Channel = a.LastChannelCheck()
	return st
}
