package appliance

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/webui"
)

// inputError converts a store validation error into the webui's kind, so
// the UI can point at the line and column.
func inputError(err error) error {
	var ce *store.ConfigError
	if errors.As(err, &ce) {
		return &webui.InputError{Part: ce.Part, Line: ce.Line, Column: ce.Column, Msg: ce.Msg}
	}
	return err
}

func settingsView(s store.Settings) webui.Settings {
	return webui.Settings{Syslog: s.Syslog, Webhook: s.Webhook, ConfirmSeconds: s.ConfirmSeconds, ListenHTTPS: s.ListenHTTPS,
		ListenHTTP: s.ListenHTTP, MgmtMode: s.MgmtMode, MgmtAddress: s.MgmtAddress, MgmtGateway: s.MgmtGateway,
		MgmtDNS: append([]string(nil), s.MgmtDNS...), BridgeMTU: s.BridgeMTU, FailMode: s.FailMode,
		UpdateChannel: s.UpdateChannel, UpdateInterval: s.UpdateInterval, UpdateMode: s.UpdateMode}
}

func settingsFrom(s webui.Settings) store.Settings {
	return store.Settings{Syslog: s.Syslog, Webhook: s.Webhook, ConfirmSeconds: s.ConfirmSeconds, ListenHTTPS: s.ListenHTTPS,
		ListenHTTP: s.ListenHTTP, MgmtMode: s.MgmtMode, MgmtAddress: s.MgmtAddress, MgmtGateway: s.MgmtGateway,
		MgmtDNS: append([]string(nil), s.MgmtDNS...), BridgeMTU: s.BridgeMTU, FailMode: s.FailMode,
		UpdateChannel: s.UpdateChannel, UpdateInterval: s.UpdateInterval, UpdateMode: s.UpdateMode}
}

func configView(r store.Revision) webui.ConfigView {
	return webui.ConfigView{Revision: r.N, Author: r.Author, Time: r.Time, Summary: r.Summary,
		Policy: r.Config.Policy, Rules: r.Config.Rules, Settings: settingsView(r.Config.Settings)}
}

// Config implements webui.Configurator.
func (b *Backend) Config(ctx context.Context) (webui.ConfigView, error) {
	v := configView(b.store.Current())
	if p, ok := b.confirm.Pending(); ok {
		v.Pending = &webui.Pending{Author: p.Author, Summary: p.Summary, Deadline: p.Deadline, Rules: p.New.Rules, Policy: p.New.Policy}
	}
	return v, nil
}

// runningPolicy is the policy text the dataplane runs or is about to.
func (b *Backend) runningPolicy() string {
	if p, ok := b.confirm.Pending(); ok {
		return p.New.Policy
	}
	return b.store.Current().Config.Policy
}

// Knobs implements webui.Configurator.
func (b *Backend) Knobs(ctx context.Context) ([]webui.Knob, error) {
	p, err := config.Parse([]byte(b.runningPolicy()))
	if err != nil {
		return nil, fmt.Errorf("running policy: %w", err)
	}
	var out []webui.Knob
	for _, k := range config.Knobs() {
		if k.Shorthand {
			continue // Format writes the knobs it sets instead
		}
		v := webui.Knob{Name: k.Name, Rule: k.Rule, Value: k.Value(&p), Default: k.Default, Range: k.Range(), Unit: k.Unit, Description: k.Description}
		switch k.Type {
		case config.TypeEnum:
			v.Choices = k.Choices
		case config.TypeBool:
			v.Choices = []string{"true", "false"}
		}
		out = append(out, v)
	}
	return out, nil
}

// CheckRules implements webui.Configurator.
func (b *Backend) CheckRules(ctx context.Context, text string) error {
	return inputError(store.CheckRules(text))
}

// changeSummary describes a text change in one line: "rules: +3 -1 lines".
func changeSummary(part, old, new string) string {
	d := countLineChanges(old, new)
	return fmt.Sprintf("%s changed (+%d -%d lines)", part, d.added, d.removed)
}

type lineChanges struct{ added, removed int }

// countLineChanges counts lines only in new and only in old, as multisets;
// close enough to a diff for a one-line summary.
func countLineChanges(old, new string) lineChanges {
	seen := map[string]int{}
	for _, l := range strings.Split(old, "\n") {
		seen[l]++
	}
	var c lineChanges
	for _, l := range strings.Split(new, "\n") {
		if seen[l] > 0 {
			seen[l]--
		} else {
			c.added++
		}
	}
	for _, n := range seen {
		c.removed += n
	}
	return c
}

// applyText runs a new rules or policy text: with confirm > 0 through the
// commit-confirm flow, otherwise applied and stored at once.
func (b *Backend) applyText(actor, part, text string, confirm time.Duration, set func(*store.Config, string)) error {
	b.changeMu.Lock()
	defer b.changeMu.Unlock()
	if _, ok := b.confirm.Pending(); ok {
		return &webui.ConflictError{Msg: ErrChangePending.Error()}
	}
	cur := b.store.Current().Config
	next := cur
	set(&next, text)
	if err := store.ValidateConfig(next); err != nil {
		return inputError(err)
	}
	old := cur.Rules
	if part == "policy" {
		old = cur.Policy
	}
	summary := changeSummary(part, old, text)
	if confirm > 0 {
		_, err := b.confirm.Start(actor, summary, cur, next, confirm)
		if errors.Is(err, ErrChangePending) {
			return &webui.ConflictError{Msg: err.Error()}
		}
		if err != nil {
			return err
		}
		b.record(actor, summary+" (awaiting confirmation)", fmt.Sprintf("reverts by itself in %v", confirm))
		b.events.Publish(webui.Event{Kind: webui.EventConfig, Actor: actor, Message: fmt.Sprintf("%s by %s; reverts in %v unless confirmed", summary, actor, confirm)})
		return nil
	}
	return b.applyAndCommit(actor, summary, cur, func(c *store.Config) error { set(c, text); return nil })
}

// applyAndCommit pushes the changed config to the dataplane and stores it;
// if storing fails the dataplane gets the old config back.
func (b *Backend) applyAndCommit(actor, summary string, cur store.Config, change func(*store.Config) error) error {
	next := cur
	if err := change(&next); err != nil {
		return err
	}
	if err := store.ValidateConfig(next); err != nil {
		return inputError(err)
	}
	if err := b.apply(next); err != nil {
		b.apply(cur)
		return err
	}
	rev, err := b.store.Commit(actor, summary, change)
	if err != nil {
		if rerr := b.apply(cur); rerr != nil {
			b.log.Error("restoring the running config after a failed save", "err", rerr)
		}
		return inputError(err)
	}
	b.committed(rev)
	return nil
}

// committed audits and announces a stored revision.
func (b *Backend) committed(rev store.Revision) {
	b.record(rev.Author, rev.Summary, fmt.Sprintf("revision %d", rev.N))
	b.events.Publish(webui.Event{Kind: webui.EventConfig, Actor: rev.Author, Message: fmt.Sprintf("revision %d: %s (by %s)", rev.N, rev.Summary, rev.Author)})
	if b.opts.OnCommit != nil {
		b.opts.OnCommit(rev)
	}
}

// ApplyRules implements webui.Configurator.
func (b *Backend) ApplyRules(ctx context.Context, actor, text string, confirm time.Duration) error {
	return b.applyText(actor, "rules", text, confirm, func(c *store.Config, t string) { c.Rules = t })
}

// ApplyPolicy implements webui.Configurator.
func (b *Backend) ApplyPolicy(ctx context.Context, actor, text string, confirm time.Duration) error {
	return b.applyText(actor, "policy", text, confirm, func(c *store.Config, t string) { c.Policy = t })
}

// commitPending stores a confirmed change; only the parts the change is
// about are taken, so settings saved meanwhile survive.
func (b *Backend) commitPending(p Pending, who string) error {
	// The audit row must tell a confirmed change from the pending one
	// logged when it was applied.
	summary := p.Summary + ", confirmed by " + who
	rev, err := b.store.Commit(p.Author, summary, func(c *store.Config) error {
		c.Rules, c.Policy = p.New.Rules, p.New.Policy
		return nil
	})
	if err != nil {
		return err
	}
	b.committed(rev)
	return nil
}

// reverted reports a change that was rolled back.
func (b *Backend) reverted(p Pending, why string, err error) {
	msg := fmt.Sprintf("%s by %s reverted: %s", p.Summary, p.Author, why)
	if err != nil {
		msg += fmt.Sprintf("; re-applying the old config FAILED: %v", err)
		b.log.Error("revert failed", "err", err)
	}
	b.record("system", "change reverted", msg)
	b.events.Publish(webui.Event{Kind: webui.EventConfig, Actor: p.Author, Message: msg})
}

// Confirm implements webui.Configurator.
func (b *Backend) Confirm(ctx context.Context, actor string) error {
	_, err := b.confirm.Confirm(actor)
	if errors.Is(err, ErrNothingToConfirm) {
		return &webui.ConflictError{Msg: err.Error()}
	}
	return err
}

// Revert implements webui.Configurator.
func (b *Backend) Revert(ctx context.Context, actor string) error {
	_, err := b.confirm.Revert(actor)
	if errors.Is(err, ErrNothingToConfirm) {
		return &webui.ConflictError{Msg: err.Error()}
	}
	return err
}

// SetSettings implements webui.Configurator.
func (b *Backend) SetSettings(ctx context.Context, actor string, s webui.Settings) error {
	next := settingsFrom(s)
	if err := next.Validate(); err != nil {
		return &webui.InputError{Part: "settings", Msg: err.Error()}
	}
	rev, err := b.store.Commit(actor, "settings changed", func(c *store.Config) error {
		c.Settings = next
		return nil
	})
	if err != nil {
		return inputError(err)
	}
	b.committed(rev)
	return nil
}

// Revisions implements webui.Configurator.
func (b *Backend) Revisions(ctx context.Context) ([]webui.Revision, error) {
	cur := b.store.Current().N
	var out []webui.Revision
	for _, r := range b.store.Revisions() {
		out = append(out, webui.Revision{N: r.N, Author: r.Author, Time: r.Time, Summary: r.Summary, Current: r.N == cur})
	}
	return out, nil
}

// Revision implements webui.Configurator.
func (b *Backend) Revision(ctx context.Context, n int) (webui.ConfigView, error) {
	r, err := b.store.Revision(n)
	if errors.Is(err, store.ErrNoRevision) {
		return webui.ConfigView{}, &webui.NotFoundError{What: fmt.Sprintf("revision %d", n)}
	}
	if err != nil {
		return webui.ConfigView{}, err
	}
	return configView(r), nil
}

// Rollback implements webui.Configurator: the old revision runs at once
// and is stored as a new revision.
func (b *Backend) Rollback(ctx context.Context, actor string, n int) error {
	b.changeMu.Lock()
	defer b.changeMu.Unlock()
	if _, ok := b.confirm.Pending(); ok {
		return &webui.ConflictError{Msg: ErrChangePending.Error()}
	}
	old, err := b.store.Revision(n)
	if errors.Is(err, store.ErrNoRevision) {
		return &webui.NotFoundError{What: fmt.Sprintf("revision %d", n)}
	}
	if err != nil {
		return err
	}
	return b.applyAndCommit(actor, fmt.Sprintf("roll back to revision %d", n), b.store.Current().Config, func(c *store.Config) error {
		*c = old.Config
		return nil
	})
}

// Export implements webui.Configurator.
func (b *Backend) Export(ctx context.Context) ([]byte, error) { return b.store.Export() }

// Import implements webui.Configurator: the document is validated as a
// whole first; a bad one changes nothing.
func (b *Backend) Import(ctx context.Context, actor string, data []byte) error {
	b.changeMu.Lock()
	defer b.changeMu.Unlock()
	if _, ok := b.confirm.Pending(); ok {
		return &webui.ConflictError{Msg: ErrChangePending.Error()}
	}
	e, err := store.ParseExport(data)
	if err != nil {
		var ce *store.ConfigError
		if errors.As(err, &ce) {
			return &webui.InputError{Part: ce.Part, Line: ce.Line, Column: ce.Column, Msg: ce.Msg}
		}
		return &webui.InputError{Part: "import", Msg: err.Error()}
	}
	return b.applyAndCommit(actor, fmt.Sprintf("import config (exported at revision %d)", e.Revision), b.store.Current().Config, func(c *store.Config) error {
		c.Policy, c.Rules, c.Settings = e.Policy, e.Rules, e.Settings
		return nil
	})
}

// Audit implements webui.Configurator.
func (b *Backend) Audit(ctx context.Context, limit int) ([]webui.AuditEntry, error) {
	entries, err := b.audit.Recent(limit)
	if err != nil {
		return nil, err
	}
	out := make([]webui.AuditEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, webui.AuditEntry{Time: e.Time, Actor: e.Actor, Action: e.Action, Detail: e.Detail})
	}
	return out, nil
}
