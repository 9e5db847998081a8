package appliance

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"time"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/webui"
)

// uiError turns a refusal of the control API into the webui error kinds.
func uiError(err error) error {
	var ae *control.APIError
	if errors.As(err, &ae) {
		switch ae.Status {
		case http.StatusBadRequest:
			return &webui.InputError{Msg: ae.Message}
		case http.StatusNotFound:
			return &webui.NotFoundError{What: ae.Message}
		}
	}
	return err
}

// Status implements webui.Monitor.
func (b *Backend) Status(ctx context.Context) (webui.Status, error) {
	st := webui.Status{Version: b.opts.Version, Slot: b.opts.Slot, Started: b.opts.Started}
	st.Bypass.Mode = b.store.Current().Config.Settings.FailMode
	if b.opts.Bypass != nil {
		st.Bypass.Active, st.Bypass.Reason = b.opts.Bypass()
	}
	ds, err := b.dp.Status(ctx)
	if err != nil {
		return st, err
	}
	roles := [2]string{dataplane.Uplink: "uplink", dataplane.Rack: "rack"}
	for i, pc := range ds.Counters.Ports {
		p := webui.Port{Name: pc.Name, Role: roles[i], Up: ds.Health.Ports[i].LinkUp,
			RxFrames: pc.RxFrames, RxBytes: pc.RxBytes, TxFrames: pc.TxFrames, TxBytes: pc.TxBytes}
		if b.opts.LinkSpeed != nil {
			p.SpeedMbps = b.opts.LinkSpeed(pc.Name)
		}
		st.Ports = append(st.Ports, p)
		st.Forwarded += pc.Forwarded
		for r, n := range pc.DropsByReason {
			st.Drops[r] += n
		}
	}
	return st, nil
}

func summaryOf(s control.Source) webui.SourceSummary {
	out := webui.SourceSummary{Key: s.Source, Violations: s.Violations, Drops: s.TotalDrops, LastSeen: s.LastSeen}
	if s.Quarantined {
		out.QuarantinedUntil = s.Until
	}
	return out
}

// TopSources implements webui.Monitor.
func (b *Backend) TopSources(ctx context.Context, n int) ([]webui.SourceSummary, error) {
	srcs, err := b.dp.Sources(ctx, n)
	if err != nil {
		return nil, uiError(err)
	}
	out := make([]webui.SourceSummary, 0, len(srcs))
	for _, s := range srcs {
		out = append(out, summaryOf(s))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Violations > out[j].Violations })
	return out, nil
}

// Source implements webui.Monitor.
func (b *Backend) Source(ctx context.Context, key string) (webui.SourceDetail, error) {
	s, err := b.dp.Source(ctx, key)
	if err != nil {
		return webui.SourceDetail{}, uiError(err)
	}
	d := webui.SourceDetail{SourceSummary: summaryOf(*s), History: quarantineHistory(s.Events)}
	for name, n := range s.Drops {
		if r, ok := reason.Parse(name); ok {
			d.ByReason[r] = n
		}
	}
	return d, nil
}

// quarantineHistory pairs each quarantine event with the event that ended
// it (same Since), newest first.
func quarantineHistory(evs []control.Event) []webui.QuarantineRecord {
	var out []webui.QuarantineRecord
	index := map[time.Time]int{}
	for _, e := range evs {
		if e.Kind == "quarantine" {
			rec := webui.QuarantineRecord{Start: e.Since, End: e.Until, Cause: "threshold"}
			if !e.Automatic {
				rec.Cause, rec.Actor = "manual", e.By
			}
			index[e.Since] = len(out)
			out = append(out, rec)
			continue
		}
		i, ok := index[e.Since]
		if !ok {
			continue // its start fell out of the event log
		}
		out[i].End = e.Time
		switch e.Kind {
		case "release":
			out[i].Closed = "released by " + e.By
		case "expire":
			out[i].Closed = "expired"
		default:
			out[i].Closed = e.Kind
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Quarantined implements webui.Monitor.
func (b *Backend) Quarantined(ctx context.Context) ([]webui.QuarantineEntry, error) {
	q, err := b.dp.Quarantined(ctx)
	if err != nil {
		return nil, uiError(err)
	}
	out := make([]webui.QuarantineEntry, 0, len(q))
	for _, e := range q {
		cause := "threshold"
		if !e.Automatic {
			cause = "manual by " + e.By
		}
		out = append(out, webui.QuarantineEntry{Key: e.Source, Since: e.Since, Until: e.Until, Cause: cause, Offenses: e.Offences})
	}
	return out, nil
}

// Quarantine implements webui.Monitor.
func (b *Backend) Quarantine(ctx context.Context, actor, key string, d time.Duration) error {
	if err := b.dp.Quarantine(ctx, key, d, actor); err != nil {
		return uiError(err)
	}
	b.record(actor, "quarantine "+key, "for "+d.String())
	return nil
}

// Release implements webui.Monitor.
func (b *Backend) Release(ctx context.Context, actor, key string) error {
	if err := b.dp.Release(ctx, key, actor); err != nil {
		return uiError(err)
	}
	b.record(actor, "release "+key, "")
	return nil
}

// Capture implements webui.Monitor.
func (b *Backend) Capture(ctx context.Context, w io.Writer, reasonName, src string) error {
	_, err := b.dp.Capture(ctx, w, reasonName, src)
	return uiError(err)
}
