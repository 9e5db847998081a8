package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/webui"
)

// updatePage adapts the update agent to the web UI's update page
// (webui.Updater). The adapter lives here, where the two are wired, so the
// update agent does not carry the web UI and the web UI owns no update
// logic.
type updatePage struct{ agent *update.Agent }

func (p updatePage) UpdateInfo() webui.UpdateInfo { return updateInfo(p.agent.Status()) }

// InstallBundle installs from the update page; the agent refuses a
// downgrade the page's password check did not confirm.
func (p updatePage) InstallBundle(ctx context.Context, r io.Reader, allowDowngrade bool) error {
	_, err := p.agent.InstallGuarded(ctx, r, update.InstallOptions{AllowDowngrade: allowDowngrade})
	return err
}

// updateInfo is what the update page shows of the agent's status.
func updateInfo(st update.Status) webui.UpdateInfo {
	info := webui.UpdateInfo{Trial: st.Trial, Health: st.Health, Floor: st.Floor, FellBackFrom: st.FellBackFrom}
	if c := st.Channel; c != nil {
		info.Channel = &webui.ChannelInfo{URL: c.URL, Time: c.Time, Outcome: c.Outcome, Reason: c.Reason, Version: c.Version}
	}
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
