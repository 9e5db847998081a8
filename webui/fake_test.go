package webui

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// fakeBackend implements every webui interface in memory. changes counts
// every mutation, so tests can assert that a refused request changed nothing.
type fakeBackend struct {
	mu      sync.Mutex
	now     func() time.Time
	changes int

	status     Status
	sources    map[string]SourceDetail
	quarantine map[string]QuarantineEntry
	capture    []byte
	captureErr error

	cfg       ConfigView
	revisions []ConfigView // oldest first
	pending   *Pending
	knobs     []Knob
	audit     []AuditEntry

	adminHash string
	tokens    []APIToken
	setupCode string // "" once the password is set
	// credsLocked makes every Accounts call fail as unreadable credentials do.
	credsLocked bool

	subs    []chan Event
	events  []Event
	reboots []string
}

func newFakeBackend(now func() time.Time) *fakeBackend {
	f := &fakeBackend{now: now, sources: map[string]SourceDetail{}, quarantine: map[string]QuarantineEntry{}, setupCode: testSetupCode}
	f.status = Status{Version: "v0.4.2", Slot: "A", Started: now().Add(-26 * time.Hour),
		Bypass: Bypass{Mode: "open"},
		Ports: []Port{
			{Name: "eth1", Role: "uplink", Up: true, SpeedMbps: 10000},
			{Name: "eth2", Role: "rack", Up: true, SpeedMbps: 10000},
			{Name: "eth0", Role: "management", Up: true, SpeedMbps: 1000},
		}}
	f.cfg = ConfigView{Revision: 1, Author: "system", Time: now(), Summary: "initial configuration",
		Policy: "max_fragments: 128\n", Rules: "set default pass\npass in proto tcp from any to any port 22\n",
		Settings: Settings{ConfirmSeconds: 60, ListenHTTPS: ":443", MgmtMode: "dhcp", BridgeMTU: 1500, FailMode: "open"}}
	f.revisions = []ConfigView{f.cfg}
	f.knobs = []Knob{
		{Name: "max_fragments", Rule: "F7", Value: "128", Default: "128", Range: "2 to 8192", Unit: "fragments", Description: "most fragments per datagram"},
		{Name: "ip_options", Rule: "H3", Value: "no-source-route", Default: "no-source-route", Range: "drop | no-source-route | allow", Choices: []string{"no-source-route", "drop", "allow"}, Description: "what happens to IPv4 options"},
	}
	f.capture = []byte("\x0a\x0d\x0d\x0apcapng-bytes")
	return f
}

func (f *fakeBackend) changed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changes
}

// Monitor

func (f *fakeBackend) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, nil
}

func (f *fakeBackend) TopSources(ctx context.Context, n int) ([]SourceSummary, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []SourceSummary
	for _, s := range f.sources {
		out = append(out, s.SourceSummary)
	}
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j].Violations > out[i].Violations {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out[:min(n, len(out))], nil
}

func (f *fakeBackend) Source(ctx context.Context, key string) (SourceDetail, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sources[key]
	if !ok {
		return s, &NotFoundError{What: "source " + key}
	}
	return s, nil
}

func (f *fakeBackend) Quarantined(ctx context.Context) ([]QuarantineEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []QuarantineEntry
	for _, q := range f.quarantine {
		out = append(out, q)
	}
	return out, nil
}

func (f *fakeBackend) Quarantine(ctx context.Context, actor, key string, d time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.changes++
	f.quarantine[key] = QuarantineEntry{Key: key, Since: f.now(), Until: f.now().Add(d), Cause: "manual by " + actor, Offenses: 1}
	return nil
}

func (f *fakeBackend) Release(ctx context.Context, actor, key string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.quarantine[key]; !ok {
		return &NotFoundError{What: "quarantined source " + key}
	}
	f.changes++
	delete(f.quarantine, key)
	return nil
}

func (f *fakeBackend) Capture(ctx context.Context, w io.Writer, reasonName, src string) error {
	if f.captureErr != nil {
		return f.captureErr
	}
	_, err := w.Write(f.capture)
	return err
}

// Configurator

func (f *fakeBackend) Config(ctx context.Context) (ConfigView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.cfg
	c.Pending = f.pending
	return c, nil
}

func (f *fakeBackend) Knobs(ctx context.Context) ([]Knob, error) { return f.knobs, nil }

// checkRules accepts lines starting with a known word, like a very small
// rules parser, and reports the first other line with its position.
func checkRules(text string) error {
	for i, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		w := strings.Fields(t)[0]
		if w != "pass" && w != "block" && w != "set" && w != "table" {
			return &InputError{Part: "rules", Line: i + 1, Column: strings.Index(line, w) + 1, Msg: fmt.Sprintf("unknown statement %q", w)}
		}
	}
	return nil
}

func (f *fakeBackend) CheckRules(ctx context.Context, text string) error { return checkRules(text) }

func (f *fakeBackend) commitLocked(actor, summary string, change func(*ConfigView)) {
	c := f.cfg
	change(&c)
	c.Revision = f.revisions[len(f.revisions)-1].Revision + 1
	c.Author, c.Summary, c.Time = actor, summary, f.now()
	f.cfg = c
	f.revisions = append(f.revisions, c)
	f.audit = append(f.audit, AuditEntry{Time: f.now(), Actor: actor, Action: summary})
	f.changes++
}

func (f *fakeBackend) ApplyRules(ctx context.Context, actor, text string, confirm time.Duration) error {
	if err := checkRules(text); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending != nil {
		return &ConflictError{Msg: "another change is waiting for confirmation"}
	}
	if confirm > 0 {
		f.pending = &Pending{Author: actor, Summary: "rules changed", Deadline: f.now().Add(confirm), Rules: text}
		f.changes++
		return nil
	}
	f.commitLocked(actor, "rules changed", func(c *ConfigView) { c.Rules = text })
	return nil
}

func (f *fakeBackend) ApplyPolicy(ctx context.Context, actor, text string, confirm time.Duration) error {
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		name, val, _ := strings.Cut(line, ": ")
		if name == "max_fragments" && (val == "" || strings.Trim(val, "0123456789") != "") {
			return &InputError{Part: "policy", Line: i + 1, Column: len(name) + 3, Msg: fmt.Sprintf("%q is not a number", val)}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if confirm > 0 {
		f.pending = &Pending{Author: actor, Summary: "policy changed", Deadline: f.now().Add(confirm), Policy: text}
		f.changes++
		return nil
	}
	f.commitLocked(actor, "policy changed", func(c *ConfigView) { c.Policy = text })
	return nil
}

func (f *fakeBackend) Confirm(ctx context.Context, actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.pending
	if p == nil {
		return &ConflictError{Msg: "no change is waiting for confirmation"}
	}
	f.pending = nil
	f.commitLocked(actor, p.Summary, func(c *ConfigView) {
		if p.Rules != "" {
			c.Rules = p.Rules
		}
		if p.Policy != "" {
			c.Policy = p.Policy
		}
	})
	return nil
}

func (f *fakeBackend) Revert(ctx context.Context, actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pending == nil {
		return &ConflictError{Msg: "no change is waiting for confirmation"}
	}
	f.pending = nil
	f.changes++
	return nil
}

func (f *fakeBackend) SetSettings(ctx context.Context, actor string, s Settings) error {
	if s.BridgeMTU < 576 || s.BridgeMTU > 9216 {
		return &InputError{Part: "settings", Msg: fmt.Sprintf("bridge_mtu: %d is outside 576 to 9216", s.BridgeMTU)}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commitLocked(actor, "settings changed", func(c *ConfigView) { c.Settings = s })
	return nil
}

func (f *fakeBackend) Revisions(ctx context.Context) ([]Revision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Revision
	for i := len(f.revisions) - 1; i >= 0; i-- {
		r := f.revisions[i]
		out = append(out, Revision{N: r.Revision, Author: r.Author, Time: r.Time, Summary: r.Summary, Current: r.Revision == f.cfg.Revision})
	}
	return out, nil
}

func (f *fakeBackend) Revision(ctx context.Context, n int) (ConfigView, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.revisions {
		if r.Revision == n {
			return r, nil
		}
	}
	return ConfigView{}, &NotFoundError{What: fmt.Sprintf("revision %d", n)}
}

func (f *fakeBackend) Rollback(ctx context.Context, actor string, n int) error {
	old, err := f.Revision(ctx, n)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commitLocked(actor, fmt.Sprintf("roll back to revision %d", n), func(c *ConfigView) {
		c.Rules, c.Policy, c.Settings = old.Rules, old.Policy, old.Settings
	})
	return nil
}

func (f *fakeBackend) Export(ctx context.Context) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(`{"format":"test","rules":` + fmt.Sprintf("%q", f.cfg.Rules) + `}`), nil
}

func (f *fakeBackend) Import(ctx context.Context, actor string, data []byte) error {
	s := string(data)
	if !strings.HasPrefix(s, `{"format":"test","rules":`) {
		return &InputError{Part: "import", Msg: "not a config export"}
	}
	var rules string
	fmt.Sscanf(strings.TrimPrefix(s, `{"format":"test","rules":`), "%q", &rules)
	if err := checkRules(rules); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.commitLocked(actor, "import", func(c *ConfigView) { c.Rules = rules })
	return nil
}

func (f *fakeBackend) Audit(ctx context.Context, limit int) ([]AuditEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []AuditEntry
	for i := len(f.audit) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, f.audit[i])
	}
	return out, nil
}

// Accounts

var errFakeLocked = fmt.Errorf("credentials.json: bad JSON: %w", ErrCredentialsUnreadable)

func (f *fakeBackend) AdminHash(ctx context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.credsLocked {
		return "", errFakeLocked
	}
	return f.adminHash, nil
}

func (f *fakeBackend) CheckSetupCode(ctx context.Context, code string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.credsLocked {
		return false, errFakeLocked
	}
	return f.adminHash == "" && f.setupCode != "" && code == f.setupCode, nil
}

func (f *fakeBackend) SetAdminHash(ctx context.Context, actor, hash string, revokeTokens bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.credsLocked {
		return 0, errFakeLocked
	}
	f.adminHash = hash
	f.setupCode = ""
	revoked := 0
	if revokeTokens {
		revoked = len(f.tokens)
		f.tokens = nil
	}
	f.changes++
	return revoked, nil
}

func (f *fakeBackend) Tokens(ctx context.Context) ([]APIToken, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.credsLocked {
		return nil, errFakeLocked
	}
	return append([]APIToken(nil), f.tokens...), nil
}

func (f *fakeBackend) AddToken(ctx context.Context, actor string, t APIToken) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, t)
	f.changes++
	return nil
}

func (f *fakeBackend) DeleteToken(ctx context.Context, actor, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, t := range f.tokens {
		if t.ID == id {
			f.tokens = append(f.tokens[:i], f.tokens[i+1:]...)
			f.changes++
			return nil
		}
	}
	return &NotFoundError{What: "token " + id}
}

// Events

func (f *fakeBackend) Subscribe() (<-chan Event, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan Event, 16)
	f.subs = append(f.subs, ch)
	return ch, func() {}
}

func (f *fakeBackend) Publish(e Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	for _, ch := range f.subs {
		select {
		case ch <- e:
		default:
		}
	}
}

// System

func (f *fakeBackend) Reboot(ctx context.Context, actor string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reboots = append(f.reboots, actor)
	f.changes++
	return nil
}

// addDemoSources fills the fake with a few sources and drop counters.
func (f *fakeBackend) addDemoSources() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	mk := func(key string, viol, drops uint64, q time.Time, by map[reason.Reason]uint64) {
		d := SourceDetail{SourceSummary: SourceSummary{Key: key, Violations: viol, Drops: drops, LastSeen: now.Add(-3 * time.Second), QuarantinedUntil: q}}
		for r, n := range by {
			d.ByReason[r] = n
		}
		f.sources[key] = d
	}
	mk("10.77.0.23", 41230, 913442, now.Add(7*time.Minute), map[reason.Reason]uint64{reason.FragOverlap: 800000, reason.Quarantined: 113442})
	mk("2001:db8:77::/64", 1840, 1840, time.Time{}, map[reason.Reason]uint64{reason.FragTooSmall: 1840})
	mk("mac 02:42:ac:11:00:07", 312, 312, time.Time{}, map[reason.Reason]uint64{reason.TCPFlagsInvalid: 312})
	d := f.sources["10.77.0.23"]
	d.History = []QuarantineRecord{{Start: now.Add(-3 * time.Minute), End: now.Add(7 * time.Minute), Cause: "threshold (2000 violations in 10s)"}}
	f.sources["10.77.0.23"] = d
	f.quarantine["10.77.0.23"] = QuarantineEntry{Key: "10.77.0.23", Since: now.Add(-3 * time.Minute), Until: now.Add(7 * time.Minute), Cause: "threshold", Offenses: 1}
}
