package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/webui"
)

// startUpdates sets up the A/B update agent. Only a box booted from a
// rackwall image has slots to write; elsewhere (the lab, tests) updates are
// refused with a clear reason rather than the routes being missing.
func (a *box) startUpdates() {
	if !a.onBox {
		return
	}
	agent, err := update.NewOnBox(filepath.Join(a.f.state, "update"),
		update.PasswordGuard{Confirmed: webui.AdminPasswordConfirmed, Header: webui.AdminPasswordHeader})
	if err != nil {
		a.log.Error("updates unavailable", "err", err)
		a.updateErr = err
		return
	}
	a.update = agent
	a.ui.Registerer().MustRegister(agent.Collector())
	agent.SetChannel(channelSettings(a.store.Current().Config.Settings))
	agent.OnChannelCheck(func(c update.ChannelCheck) {
		a.backend.Events().Publish(webui.Event{Time: c.Time, Kind: webui.EventUpdate, Actor: "system", Message: channelMessage(c)})
	})
}

// channelSettings is the update channel part of the settings, as the agent
// takes it.
func channelSettings(s store.Settings) update.ChannelSettings {
	return update.ChannelSettings{URL: s.UpdateChannel, Interval: s.ChannelInterval(), NotifyOnly: s.ChannelNotifyOnly()}
}

// followChannel checks the update channel on its schedule until ctx ends.
func (a *box) followChannel(ctx context.Context) {
	if a.update != nil {
		a.update.FollowChannel(ctx)
	}
}

// applyChannel hands changed channel settings to the agent at once.
func (a *box) applyChannel(s store.Settings) {
	if a.update != nil {
		a.update.SetChannel(channelSettings(s))
	}
}

// channelMessage is a channel check as one event line.
func channelMessage(c update.ChannelCheck) string {
	msg := "update channel: " + strings.ReplaceAll(c.Outcome, "_", " ")
	if c.Reason != "" {
		msg += ": " + c.Reason
	}
	return msg
}

// afterBoot runs the post-boot health check once: a trial boot of a new
// slot is blessed only if the appliance proves healthy within the deadline,
// otherwise the agent reboots and the boot counter falls back to the old
// slot.
//
// A check that fails (the boot partition cannot be read, say) is tried
// again: an unjudged trial would otherwise stay on trial until the next
// reboot falls back for no reason.
func (a *box) afterBoot(ctx context.Context) {
	if a.update == nil {
		return
	}
	health := func(context.Context) error {
		r := a.healthReport()
		if r.Healthy {
			return nil
		}
		return fmt.Errorf("dataplane %s (%s), config loaded %v, UI %v", r.Dataplane, r.Reason, r.ConfigLoaded, r.UI)
	}
	for try := 1; ; try++ {
		rep, err := a.update.AfterBoot(ctx, health, 0)
		if err == nil {
			a.log.Info("after-boot update check", "report", fmt.Sprintf("%+v", rep))
			return
		}
		a.log.Error("after-boot update check", "try", try, "err", err)
		if try == afterBootTries {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(afterBootRetry):
		}
	}
}

// afterBootTries and afterBootRetry bound the retries of a failed
// after-boot check to well inside the trial's health deadline.
const (
	afterBootTries = 6
	afterBootRetry = 5 * time.Second
)

// mountUpdates adds the update API and page to the appliance's routes.
func (a *box) mountUpdates(mux interface{ Handle(string, http.Handler) }) {
	var api http.Handler
	var page webui.Updater
	if a.update != nil {
		api, page = a.update.Handler(), updatePage{a.update}
	} else {
		reason := "updates are installed only on a box booted from a rackwall image"
		if a.updateErr != nil {
			reason = "updates unavailable: " + a.updateErr.Error()
		}
		api, page = unavailableUpdates(reason), noUpdates{reason}
	}
	guarded := a.ui.GuardAPI(api)
	mux.Handle("/api/update", guarded)
	mux.Handle("/api/update/", guarded)
	mux.Handle("GET /system/update", a.ui.UpdatePage(page))
	mux.Handle("POST /system/update", a.ui.UpdatePage(page))
}

func unavailableUpdates(reason string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		json.NewEncoder(w).Encode(map[string]string{"error": reason})
	})
}

// noUpdates is the update page's view of a box that cannot update.
type noUpdates struct{ reason string }

func (n noUpdates) UpdateInfo() webui.UpdateInfo {
	return webui.UpdateInfo{Health: n.reason}
}

func (n noUpdates) InstallBundle(ctx context.Context, bundle io.Reader, allowDowngrade bool) error {
	return errors.New(n.reason)
}
