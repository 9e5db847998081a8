package appliance

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
)

// fakeClock fires AfterFunc callbacks when Advance moves past their time.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at      time.Time
	f       func()
	stopped bool
	fired   bool
}

func (t *fakeTimer) Stop() bool {
	was := !t.stopped && !t.fired
	t.stopped = true
	return was
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*fakeTimer
	for _, t := range c.timers {
		if !t.stopped && !t.fired && !t.at.After(c.now) {
			t.fired = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

type confirmHarness struct {
	clock     *fakeClock
	applied   []string
	applyErr  map[string]error
	commits   []string
	commitErr error
	reverts   []string
	c         *Confirmer
}

func newConfirmHarness() *confirmHarness {
	h := &confirmHarness{clock: newFakeClock(), applyErr: map[string]error{}}
	h.c = NewConfirmer(h.clock,
		func(c store.Config) error {
			if err := h.applyErr[c.Rules]; err != nil {
				return err
			}
			h.applied = append(h.applied, c.Rules)
			return nil
		},
		func(p Pending, who string) error {
			if h.commitErr != nil {
				return h.commitErr
			}
			h.commits = append(h.commits, p.New.Rules+" by "+who)
			return nil
		},
		func(p Pending, why string, err error) { h.reverts = append(h.reverts, why) })
	return h
}

func TestConfirmBeforeDeadlineKeepsChange(t *testing.T) {
	h := newConfirmHarness()
	p, err := h.c.Start("alice", "open ssh", store.Config{Rules: "old"}, store.Config{Rules: "new"}, 60*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Deadline.Equal(h.clock.Now().Add(60 * time.Second)) {
		t.Fatalf("deadline %v", p.Deadline)
	}
	h.clock.Advance(59 * time.Second)
	if _, ok := h.c.Pending(); !ok {
		t.Fatal("change gone before its deadline")
	}
	if _, err := h.c.Confirm("bob"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	if len(h.reverts) != 0 || len(h.commits) != 1 || h.commits[0] != "new by bob" {
		t.Fatalf("reverts %v commits %v", h.reverts, h.commits)
	}
	if got := h.applied; len(got) != 1 || got[0] != "new" {
		t.Fatalf("applied %v", got)
	}
	if _, err := h.c.Confirm("bob"); !errors.Is(err, ErrNothingToConfirm) {
		t.Fatalf("second confirm: %v", err)
	}
}

func TestUnconfirmedChangeRevertsAtDeadline(t *testing.T) {
	h := newConfirmHarness()
	h.c.Start("alice", "lock out", store.Config{Rules: "old"}, store.Config{Rules: "new"}, 30*time.Second)
	h.clock.Advance(29 * time.Second)
	if len(h.reverts) != 0 {
		t.Fatal("reverted early")
	}
	h.clock.Advance(time.Second)
	if len(h.reverts) != 1 || h.reverts[0] != "not confirmed before the deadline" {
		t.Fatalf("reverts %v", h.reverts)
	}
	if got := h.applied; len(got) != 2 || got[1] != "old" {
		t.Fatalf("applied %v", got)
	}
	if len(h.commits) != 0 {
		t.Fatalf("an unconfirmed change was stored: %v", h.commits)
	}
	if _, err := h.c.Confirm("alice"); !errors.Is(err, ErrNothingToConfirm) {
		t.Fatalf("late confirm: %v", err)
	}
	// A new change may start after the revert.
	if _, err := h.c.Start("alice", "again", store.Config{Rules: "old"}, store.Config{Rules: "new2"}, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestOnlyOnePendingChange(t *testing.T) {
	h := newConfirmHarness()
	h.c.Start("alice", "a", store.Config{Rules: "old"}, store.Config{Rules: "new"}, time.Minute)
	if _, err := h.c.Start("bob", "b", store.Config{Rules: "old"}, store.Config{Rules: "other"}, time.Minute); !errors.Is(err, ErrChangePending) {
		t.Fatalf("second start: %v", err)
	}
	if _, err := h.c.Revert("bob"); err != nil {
		t.Fatal(err)
	}
	if len(h.reverts) != 1 || h.reverts[0] != "reverted by bob" || h.applied[len(h.applied)-1] != "old" {
		t.Fatalf("reverts %v applied %v", h.reverts, h.applied)
	}
	// The stale timer of the reverted change does nothing.
	h.clock.Advance(time.Hour)
	if len(h.reverts) != 1 {
		t.Fatalf("stale timer reverted again: %v", h.reverts)
	}
}

func TestApplyFailureRestoresOld(t *testing.T) {
	h := newConfirmHarness()
	h.applyErr["bad"] = errors.New("dataplane refused")
	if _, err := h.c.Start("alice", "x", store.Config{Rules: "old"}, store.Config{Rules: "bad"}, time.Minute); err == nil {
		t.Fatal("start succeeded")
	}
	if _, ok := h.c.Pending(); ok {
		t.Fatal("failed change left pending")
	}
	if len(h.applied) != 1 || h.applied[0] != "old" {
		t.Fatalf("applied %v", h.applied)
	}
	if _, err := h.c.Start("alice", "x", store.Config{}, store.Config{Rules: "new"}, 0); err == nil {
		t.Fatal("zero deadline accepted")
	}
}

func TestConfirmThatCannotBeStoredReverts(t *testing.T) {
	h := newConfirmHarness()
	h.commitErr = errors.New("disk full")
	h.c.Start("alice", "x", store.Config{Rules: "old"}, store.Config{Rules: "new"}, time.Minute)
	if _, err := h.c.Confirm("alice"); err == nil {
		t.Fatal("confirm succeeded")
	}
	if h.applied[len(h.applied)-1] != "old" || len(h.reverts) != 1 {
		t.Fatalf("applied %v reverts %v", h.applied, h.reverts)
	}
}
