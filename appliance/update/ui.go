package update

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rackwall/rackwall/webui"
)

// UI adapts the agent to the web UI's update page (webui.Updater).
func (a *Agent) UI() webui.Updater { return uiAdapter{a} }

type uiAdapter struct{ a *Agent }

func (u uiAdapter) UpdateInfo() webui.UpdateInfo {
	st := u.a.Status()
	info := webui.UpdateInfo{Trial: st.Trial, Health: st.Health, Floor: st.Floor}
	for _, s := range st.Slots {
		info.Slots = append(info.Slots, webui.UpdateSlot{Slot: s.Slot, Version: s.Version, Running: s.Running})
	}
	if l := st.Last; l != nil {
		info.LastResult, info.LastReason, info.LastVersion = l.Result, l.Reason, l.Version
		info.LastDuration = time.Duration(l.DurationS * float64(time.Second))
	}
	if p := st.Progress; p.Active {
		info.Progress = p.Phase
		if p.Total > 0 {
			info.Progress += fmt.Sprintf(" %d of %d MiB", p.Done>>20, p.Total>>20)
		}
	}
	return info
}

// InstallBundle installs from the update page. A downgrade needs the
// admin password, which the page checked and marked on ctx; without that
// mark it is refused here too, whoever calls.
func (u uiAdapter) InstallBundle(ctx context.Context, r io.Reader, allowDowngrade bool) error {
	if allowDowngrade && !u.a.cfg.PasswordConfirmed(ctx) {
		return errors.New(errDowngradeNeedsPassword)
	}
	_, err := u.a.Install(ctx, r, InstallOptions{AllowDowngrade: allowDowngrade})
	return err
}
