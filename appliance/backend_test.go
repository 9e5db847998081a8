package appliance

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/webui"
)

// fakeDataplane records what the backend pushes and serves canned state.
type fakeDataplane struct {
	mu        sync.Mutex
	rules     []string
	policies  []string
	failRules error
	status    control.Status
	sources   map[string]control.Source
	quar      []control.QuarantineEntry
	events    []control.Event
	actions   []string
}

func (f *fakeDataplane) Status(ctx context.Context) (*control.Status, error) {
	s := f.status
	return &s, nil
}

func (f *fakeDataplane) Sources(ctx context.Context, top int) ([]control.Source, error) {
	var out []control.Source
	for _, s := range f.sources {
		out = append(out, s)
	}
	return out, nil
}

func (f *fakeDataplane) Source(ctx context.Context, key string) (*control.Source, error) {
	s, ok := f.sources[key]
	if !ok {
		return nil, &control.APIError{Status: 404, Message: "source " + key + " is not tracked"}
	}
	return &s, nil
}

func (f *fakeDataplane) Quarantined(ctx context.Context) ([]control.QuarantineEntry, error) {
	return f.quar, nil
}

func (f *fakeDataplane) Quarantine(ctx context.Context, src string, d time.Duration, by string) error {
	f.actions = append(f.actions, "quarantine "+src+" "+d.String()+" "+by)
	return nil
}

func (f *fakeDataplane) Release(ctx context.Context, src, by string) error {
	if src == "10.9.9.9" {
		return &control.APIError{Status: 404, Message: "not quarantined"}
	}
	f.actions = append(f.actions, "release "+src+" "+by)
	return nil
}

func (f *fakeDataplane) Capture(ctx context.Context, w io.Writer, reasonName, src string) (int64, error) {
	n, err := io.WriteString(w, "pcapng:"+reasonName+":"+src)
	return int64(n), err
}

func (f *fakeDataplane) Events(ctx context.Context, since uint64) ([]control.Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []control.Event
	for _, e := range f.events {
		if e.Seq > since {
			out = append(out, e)
		}
	}
	return out, nil
}

func (f *fakeDataplane) PutRules(ctx context.Context, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failRules != nil {
		return f.failRules
	}
	f.rules = append(f.rules, text)
	return nil
}

func (f *fakeDataplane) PutPolicy(ctx context.Context, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.policies = append(f.policies, text)
	return nil
}

func (f *fakeDataplane) lastRules() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.rules) == 0 {
		return ""
	}
	return f.rules[len(f.rules)-1]
}

type backendHarness struct {
	b     *Backend
	dp    *fakeDataplane
	store *store.Store
	clock *fakeClock
	ev    <-chan webui.Event
	// writeErr, when set, is what every write of the store fails with.
	writeErr error
}

func newBackendHarness(t *testing.T) *backendHarness {
	t.Helper()
	dir := t.TempDir()
	h := &backendHarness{dp: &fakeDataplane{sources: map[string]control.Source{}}, clock: newFakeClock()}
	st, _, err := store.Open(dir, store.Options{WriteFile: func(path string, data []byte) error {
		if h.writeErr != nil {
			return h.writeErr
		}
		return store.WriteFileAtomic(path, data)
	}})
	if err != nil {
		t.Fatal(err)
	}
	h.store = st
	h.b, err = NewBackend(BackendOptions{Store: st, Audit: store.NewAuditLog(dir, nil), Dataplane: h.dp, Clock: h.clock,
		Version: "v1", Slot: "B", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.b.PushConfig(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.ev, _ = h.b.Subscribe()
	return h
}

// drain returns the events published so far.
func (h *backendHarness) drain() []webui.Event {
	var out []webui.Event
	for {
		select {
		case e := <-h.ev:
			out = append(out, e)
		default:
			return out
		}
	}
}

func (h *backendHarness) audit(t *testing.T) string {
	entries, err := h.b.Audit(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range entries {
		b.WriteString(e.Actor + ": " + e.Action + " " + e.Detail + "\n")
	}
	return b.String()
}

const newRules = "set default block\npass in proto tcp from any to any port 22\n"

func TestPushConfigSendsStoredConfig(t *testing.T) {
	h := newBackendHarness(t)
	cur := h.store.Current().Config
	if h.dp.lastRules() != cur.Rules || len(h.dp.policies) != 1 || h.dp.policies[0] != cur.Policy {
		t.Fatalf("pushed rules %q policies %d", h.dp.lastRules(), len(h.dp.policies))
	}
}

func TestUnconfirmedRulesRevertAtDeadline(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	oldRules := h.store.Current().Config.Rules
	if err := h.b.ApplyRules(ctx, "alice", newRules, time.Minute); err != nil {
		t.Fatal(err)
	}
	if h.dp.lastRules() != newRules {
		t.Fatal("new rules not pushed")
	}
	if h.store.Current().N != 1 {
		t.Fatal("an unconfirmed change was stored")
	}
	v, _ := h.b.Config(ctx)
	if v.Pending == nil || v.Pending.Rules != newRules || !v.Pending.Deadline.Equal(h.clock.Now().Add(time.Minute)) {
		t.Fatalf("pending %+v", v.Pending)
	}
	// A second change must wait.
	var ce *webui.ConflictError
	if err := h.b.ApplyPolicy(ctx, "bob", h.store.Current().Config.Policy, time.Minute); !errors.As(err, &ce) {
		t.Fatalf("second change: %v", err)
	}
	if err := h.b.Rollback(ctx, "bob", 1); !errors.As(err, &ce) {
		t.Fatalf("rollback during pending: %v", err)
	}
	h.clock.Advance(time.Minute)
	if h.dp.lastRules() != oldRules {
		t.Fatalf("not reverted, dataplane runs %q", h.dp.lastRules())
	}
	if v, _ := h.b.Config(ctx); v.Pending != nil {
		t.Fatal("still pending")
	}
	if !strings.Contains(h.audit(t), "not confirmed before the deadline") {
		t.Fatalf("audit: %s", h.audit(t))
	}
	evs := h.drain()
	if len(evs) != 2 || !strings.Contains(evs[1].Message, "reverted") {
		t.Fatalf("events %+v", evs)
	}
}

func TestConfirmedRulesAreStored(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	h.b.ApplyRules(ctx, "alice", newRules, time.Minute)
	h.clock.Advance(30 * time.Second)
	if err := h.b.Confirm(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	cur := h.store.Current()
	if cur.N != 2 || cur.Config.Rules != newRules || cur.Author != "alice" || !strings.Contains(cur.Summary, "confirmed by bob") {
		t.Fatalf("stored %d %q %q", cur.N, cur.Author, cur.Summary)
	}
	h.clock.Advance(time.Hour)
	if h.dp.lastRules() != newRules {
		t.Fatal("confirmed rules reverted")
	}
	var ce *webui.ConflictError
	if err := h.b.Confirm(ctx, "bob"); !errors.As(err, &ce) {
		t.Fatalf("second confirm: %v", err)
	}
}

func TestBadRulesChangeNothing(t *testing.T) {
	h := newBackendHarness(t)
	pushes := len(h.dp.rules)
	err := h.b.ApplyRules(context.Background(), "alice", "pass in proto tcp\nfrobnicate\n", 0)
	var ie *webui.InputError
	if !errors.As(err, &ie) || ie.Line != 2 || ie.Column != 1 || ie.Part != "rules" {
		t.Fatalf("err %#v", err)
	}
	if err := h.b.CheckRules(context.Background(), "pass all\n"); err != nil {
		t.Fatal(err)
	}
	if len(h.dp.rules) != pushes || h.store.Current().N != 1 {
		t.Fatal("bad rules changed something")
	}
}

func TestDataplaneRefusalKeepsOldConfig(t *testing.T) {
	h := newBackendHarness(t)
	h.dp.failRules = &control.APIError{Status: 400, Message: "line 1, column 1: nope"}
	if err := h.b.ApplyRules(context.Background(), "alice", newRules, time.Minute); err == nil {
		t.Fatal("apply succeeded")
	}
	if _, ok := h.b.confirm.Pending(); ok || h.store.Current().N != 1 {
		t.Fatal("a refused change is pending or stored")
	}
	if err := h.b.ApplyRules(context.Background(), "alice", newRules, 0); err == nil || h.store.Current().N != 1 {
		t.Fatalf("direct apply: %v, revision %d", err, h.store.Current().N)
	}
}

func TestApplyWithoutConfirmStoresAtOnce(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	var committed []int
	h.b.opts.OnCommit = func(r store.Revision) { committed = append(committed, r.N) }
	if err := h.b.ApplyRules(ctx, "api", newRules, 0); err != nil {
		t.Fatal(err)
	}
	if h.store.Current().Config.Rules != newRules || h.dp.lastRules() != newRules || len(committed) != 1 {
		t.Fatal("not applied and stored")
	}
	// A failed save puts the old rules back on the dataplane.
	h.writeErr = errors.New("disk full")
	if err := h.b.ApplyRules(ctx, "api", "block all\n", 0); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err %v", err)
	}
	if h.dp.lastRules() != newRules {
		t.Fatalf("dataplane runs %q after a failed save", h.dp.lastRules())
	}
}

func TestConfirmThatCannotBeSavedReverts(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	old := h.dp.lastRules()
	h.b.ApplyRules(ctx, "alice", newRules, time.Minute)
	h.writeErr = errors.New("disk full")
	if err := h.b.Confirm(ctx, "alice"); err == nil {
		t.Fatal("confirm succeeded")
	}
	if h.dp.lastRules() != old {
		t.Fatal("unsaved change still running")
	}
}

func TestPolicyKnobsAndApply(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	knobs, err := h.b.Knobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]webui.Knob{}
	for _, k := range knobs {
		byName[k.Name] = k
	}
	mf, ok := byName["max_fragments"]
	if !ok || mf.Value != "128" || mf.Default != "128" || mf.Range == "" || mf.Description == "" {
		t.Fatalf("max_fragments %+v", mf)
	}
	if _, ok := byName["min_fragment_bytes"]; ok {
		t.Fatal("shorthand knob offered in the form")
	}
	if io, ok := byName["ip_options"]; !ok || len(io.Choices) != 3 {
		t.Fatalf("ip_options %+v", io)
	}
	// Apply a changed policy; the knobs then show it.
	policy := strings.Replace(h.store.Current().Config.Policy, "max_fragments: 128", "max_fragments: 64", 1)
	if err := h.b.ApplyPolicy(ctx, "alice", policy, time.Minute); err != nil {
		t.Fatal(err)
	}
	knobs, _ = h.b.Knobs(ctx)
	for _, k := range knobs {
		if k.Name == "max_fragments" && k.Value != "64" {
			t.Fatalf("knob shows %s while 64 runs", k.Value)
		}
	}
	bad := strings.Replace(policy, "max_fragments: 64", "max_fragments: 0", 1)
	h.b.Revert(ctx, "alice")
	err = h.b.ApplyPolicy(ctx, "alice", bad, 0)
	var ie *webui.InputError
	if !errors.As(err, &ie) || ie.Part != "policy" || ie.Line == 0 {
		t.Fatalf("bad policy: %#v", err)
	}
}

func TestRollbackImportSettingsAndRevisions(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	h.b.ApplyRules(ctx, "alice", newRules, 0)
	if err := h.b.Rollback(ctx, "bob", 1); err != nil {
		t.Fatal(err)
	}
	if h.dp.lastRules() != store.DefaultConfig().Rules || h.store.Current().N != 3 {
		t.Fatal("rollback not applied")
	}
	var nf *webui.NotFoundError
	if err := h.b.Rollback(ctx, "bob", 42); !errors.As(err, &nf) {
		t.Fatalf("rollback to missing: %v", err)
	}
	revs, _ := h.b.Revisions(ctx)
	if len(revs) != 3 || !revs[0].Current || revs[0].N != 3 {
		t.Fatalf("revisions %+v", revs)
	}
	v, err := h.b.Revision(ctx, 2)
	if err != nil || v.Rules != newRules {
		t.Fatalf("revision 2: %v", err)
	}

	// Export, change, import back.
	data, _ := h.b.Export(ctx)
	h.b.ApplyRules(ctx, "alice", newRules, 0)
	if err := h.b.Import(ctx, "carol", data); err != nil {
		t.Fatal(err)
	}
	if h.dp.lastRules() != store.DefaultConfig().Rules {
		t.Fatal("import not applied")
	}
	n := h.store.Current().N
	var ie *webui.InputError
	if err := h.b.Import(ctx, "carol", []byte(`{"format": "rackwall-config/1", "rules": "bogus"}`)); !errors.As(err, &ie) {
		t.Fatalf("bad import: %v", err)
	}
	if h.store.Current().N != n {
		t.Fatal("bad import changed the store")
	}

	s := settingsView(h.store.Current().Config.Settings)
	s.Syslog = "192.0.2.5:514"
	s.UpdateChannel, s.UpdateInterval, s.UpdateMode = "https://updates.example.net/stable.index", "30m", "notify"
	if err := h.b.SetSettings(ctx, "alice", s); err != nil {
		t.Fatal(err)
	}
	if got := h.store.Current().Config.Settings; got.UpdateChannel != s.UpdateChannel || got.UpdateInterval != "30m" || got.UpdateMode != "notify" {
		t.Fatalf("channel settings stored as %+v", got)
	}
	if v := settingsView(h.store.Current().Config.Settings); v.UpdateChannel != s.UpdateChannel || v.UpdateInterval != "30m" || v.UpdateMode != "notify" {
		t.Fatalf("channel settings shown as %+v", v)
	}
	s.BridgeMTU = 10
	if err := h.b.SetSettings(ctx, "alice", s); !errors.As(err, &ie) || !strings.Contains(ie.Msg, "bridge_mtu") {
		t.Fatalf("bad settings: %v", err)
	}
	if h.store.Current().Config.Settings.Syslog != "192.0.2.5:514" || h.store.Current().Config.Settings.BridgeMTU != 1500 {
		t.Fatal("settings wrong")
	}
	if a := h.audit(t); !strings.Contains(a, "carol: import config") || !strings.Contains(a, "bob: roll back to revision 1") {
		t.Fatalf("audit %s", a)
	}
}

func TestAccounts(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	var ie *webui.InputError
	if _, err := h.b.SetAdminHash(ctx, "admin", "plaintext", false); !errors.As(err, &ie) {
		t.Fatalf("plain password accepted: %v", err)
	}
	tok := webui.APIToken{ID: "abc", Name: "prom", Hash: strings.Repeat("f", 64), Created: time.Now()}
	if err := h.b.AddToken(ctx, "admin", tok); err != nil {
		t.Fatal(err)
	}
	ts, _ := h.b.Tokens(ctx)
	if len(ts) != 1 || ts[0].Hash != tok.Hash {
		t.Fatalf("tokens %+v", ts)
	}
	// Tokens survive a rollback.
	if err := h.b.Rollback(ctx, "admin", 1); err != nil {
		t.Fatal(err)
	}
	if ts, _ := h.b.Tokens(ctx); len(ts) != 1 {
		t.Fatal("rollback removed a token")
	}
	var nf *webui.NotFoundError
	if err := h.b.DeleteToken(ctx, "admin", "nope"); !errors.As(err, &nf) {
		t.Fatalf("delete missing: %v", err)
	}
	if err := h.b.DeleteToken(ctx, "admin", "abc"); err != nil {
		t.Fatal(err)
	}
	if ts, _ := h.b.Tokens(ctx); len(ts) != 0 {
		t.Fatal("not deleted")
	}
}

func TestMonitorMapping(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	st := &h.dp.status
	st.Counters.Ports[0].Name, st.Counters.Ports[1].Name = "eth1", "eth2"
	st.Counters.Ports[0].RxFrames = 100
	st.Counters.Ports[0].DropsByReason[reason.FragOverlap] = 7
	st.Counters.Ports[1].DropsByReason[reason.FragOverlap] = 3
	st.Counters.Ports[0].Forwarded, st.Counters.Ports[1].Forwarded = 90, 50
	st.Health.Ports[0].LinkUp = true
	h.b.opts.LinkSpeed = func(p string) int { return map[string]int{"eth1": 10000}[p] }
	h.b.opts.Bypass = func() (bool, string) { return true, "dataplane not running" }
	s, err := h.b.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Ports) != 2 || s.Ports[0].Role != "uplink" || !s.Ports[0].Up || s.Ports[1].Up || s.Ports[0].SpeedMbps != 10000 ||
		s.Drops[reason.FragOverlap] != 10 || s.Forwarded != 140 || !s.Bypass.Active || s.Bypass.Mode != "open" || s.Slot != "B" {
		t.Fatalf("status %+v", s)
	}

	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	h.dp.sources["10.0.0.5"] = control.Source{Source: "10.0.0.5", Violations: 10, TotalDrops: 12, Quarantined: true, Until: t0.Add(time.Hour),
		Drops: map[string]uint64{"frag_overlap": 12},
		Events: []control.Event{
			{Kind: "quarantine", Since: t0, Until: t0.Add(10 * time.Minute), Automatic: true},
			{Kind: "expire", Time: t0.Add(10 * time.Minute), Since: t0},
			{Kind: "quarantine", Since: t0.Add(time.Hour), Until: t0.Add(2 * time.Hour), By: "alice"},
		}}
	h.dp.sources["10.0.0.6"] = control.Source{Source: "10.0.0.6", Violations: 99}
	top, _ := h.b.TopSources(ctx, 10)
	if len(top) != 2 || top[0].Key != "10.0.0.6" || top[1].QuarantinedUntil.IsZero() {
		t.Fatalf("top %+v", top)
	}
	d, err := h.b.Source(ctx, "10.0.0.5")
	if err != nil || d.ByReason[reason.FragOverlap] != 12 || len(d.History) != 2 {
		t.Fatalf("detail %+v %v", d, err)
	}
	if d.History[0].Cause != "manual" || d.History[0].Actor != "alice" || d.History[0].Closed != "" ||
		d.History[1].Closed != "expired" || d.History[1].Cause != "threshold" {
		t.Fatalf("history %+v", d.History)
	}
	var nf *webui.NotFoundError
	if _, err := h.b.Source(ctx, "10.0.0.7"); !errors.As(err, &nf) {
		t.Fatalf("missing source: %v", err)
	}
	if err := h.b.Quarantine(ctx, "alice", "10.0.0.7", time.Hour); err != nil || h.dp.actions[0] != "quarantine 10.0.0.7 1h0m0s alice" {
		t.Fatalf("quarantine: %v %v", err, h.dp.actions)
	}
	if err := h.b.Release(ctx, "alice", "10.9.9.9"); !errors.As(err, &nf) {
		t.Fatalf("release unknown: %v", err)
	}
	var sb strings.Builder
	if err := h.b.Capture(ctx, &sb, "frag_overlap", "10.0.0.5"); err != nil || sb.String() != "pcapng:frag_overlap:10.0.0.5" {
		t.Fatalf("capture %q %v", sb.String(), err)
	}
	if !strings.Contains(h.audit(t), "alice: quarantine 10.0.0.7 for 1h0m0s") {
		t.Fatalf("audit %s", h.audit(t))
	}
}

func TestDataplaneEventsArePublishedOnce(t *testing.T) {
	h := newBackendHarness(t)
	ctx := context.Background()
	h.dp.events = []control.Event{{Seq: 1, Kind: "quarantine", Source: "10.0.0.1", Automatic: true}}
	h.b.pollEvents(ctx, true) // the first poll only learns the position
	if evs := h.drain(); len(evs) != 0 {
		t.Fatalf("old events replayed: %+v", evs)
	}
	h.dp.mu.Lock()
	h.dp.events = append(h.dp.events, control.Event{Seq: 2, Kind: "quarantine", Source: "10.0.0.2", Automatic: true, Recent: 2500},
		control.Event{Seq: 3, Kind: "release", Source: "10.0.0.1", By: "alice"})
	h.dp.mu.Unlock()
	h.b.pollEvents(ctx, false)
	h.b.pollEvents(ctx, false)
	evs := h.drain()
	if len(evs) != 2 || evs[0].Kind != webui.EventQuarantine || !strings.Contains(evs[0].Message, "10.0.0.2 quarantined automatically") ||
		evs[1].Kind != webui.EventRelease || evs[1].Actor != "alice" {
		t.Fatalf("events %+v", evs)
	}
}

func TestLoginEventsAreAudited(t *testing.T) {
	h := newBackendHarness(t)
	h.b.Publish(webui.Event{Kind: webui.EventLoginFailure, Source: "192.0.2.9", Message: "failed login"})
	if !strings.Contains(h.audit(t), "login from 192.0.2.9: login failed") {
		t.Fatalf("audit %s", h.audit(t))
	}
	if evs := h.drain(); len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
}

func TestReboot(t *testing.T) {
	h := newBackendHarness(t)
	var ce *webui.ConflictError
	if err := h.b.Reboot(context.Background(), "admin"); !errors.As(err, &ce) {
		t.Fatalf("reboot without a hook: %v", err)
	}
	called := false
	h.b.opts.Reboot = func(context.Context) error { called = true; return nil }
	if err := h.b.Reboot(context.Background(), "admin"); err != nil || !called {
		t.Fatalf("reboot: %v %v", err, called)
	}
}
