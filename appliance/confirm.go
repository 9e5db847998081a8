package appliance

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
)

// Clock is the time source of the commit-confirm deadline; tests inject a
// fake one so a deadline passes without waiting for it.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	Stop() bool
}

type realClock struct{}

func (realClock) Now() time.Time                            { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

// SystemClock is the wall clock.
var SystemClock Clock = realClock{}

// Pending describes a change that runs but is not yet confirmed.
type Pending struct {
	ID       uint64
	Author   string
	Summary  string
	Started  time.Time
	Deadline time.Time
	Old, New store.Config
}

// Errors of the commit-confirm flow.
var (
	ErrChangePending    = errors.New("another change is waiting for confirmation; confirm or revert it first")
	ErrNothingToConfirm = errors.New("no change is waiting for confirmation")
)

// Confirmer runs a config change for a deadline and reverts it by itself
// unless someone confirms it in time, so a change that cuts the admin off
// heals itself. Only one change can be pending at a time. The store is
// written only on confirm: a box that reboots while a change is pending
// comes back with the last confirmed config.
type Confirmer struct {
	clock Clock
	// apply pushes a config to the running system (the dataplane).
	apply func(store.Config) error
	// commit stores a confirmed change as a revision.
	commit func(p Pending, confirmer string) error
	// reverted is told when a change was rolled back by the deadline or by
	// hand; err is non-nil if even the old config could not be re-applied.
	reverted func(p Pending, why string, err error)

	mu      sync.Mutex
	nextID  uint64
	pending *Pending
	timer   Timer
}

// NewConfirmer returns a Confirmer. reverted may be nil.
func NewConfirmer(clock Clock, apply func(store.Config) error, commit func(Pending, string) error, reverted func(Pending, string, error)) *Confirmer {
	if clock == nil {
		clock = SystemClock
	}
	if reverted == nil {
		reverted = func(Pending, string, error) {}
	}
	return &Confirmer{clock: clock, apply: apply, commit: commit, reverted: reverted}
}

// Start applies next in place of old and arms the deadline. If next cannot
// be applied, old is re-applied and the error returned.
func (c *Confirmer) Start(author, summary string, old, next store.Config, deadline time.Duration) (Pending, error) {
	if deadline <= 0 {
		return Pending{}, fmt.Errorf("confirm deadline %v must be positive", deadline)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending != nil {
		return Pending{}, ErrChangePending
	}
	if err := c.apply(next); err != nil {
		if rerr := c.apply(old); rerr != nil {
			return Pending{}, fmt.Errorf("apply failed: %v; re-applying the old config also failed: %v", err, rerr)
		}
		return Pending{}, fmt.Errorf("apply failed, old config kept: %w", err)
	}
	c.nextID++
	now := c.clock.Now()
	p := &Pending{ID: c.nextID, Author: author, Summary: summary, Started: now, Deadline: now.Add(deadline), Old: old, New: next}
	c.pending = p
	id := p.ID
	c.timer = c.clock.AfterFunc(deadline, func() { c.expire(id) })
	return *p, nil
}

// Confirm makes the pending change permanent. If storing it fails the change
// is reverted at once, so the running system never differs from the store
// for longer than a deadline.
func (c *Confirmer) Confirm(who string) (Pending, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.takePending()
	if err != nil {
		return Pending{}, err
	}
	if err := c.commit(*p, who); err != nil {
		rerr := c.apply(p.Old)
		c.reverted(*p, "the confirmed change could not be saved", rerr)
		return *p, fmt.Errorf("change reverted: %w", err)
	}
	return *p, nil
}

// takePending stops the pending change's deadline and hands the change
// over; the caller holds c.mu.
func (c *Confirmer) takePending() (*Pending, error) {
	p := c.pending
	if p == nil {
		return nil, ErrNothingToConfirm
	}
	c.timer.Stop()
	c.pending, c.timer = nil, nil
	return p, nil
}

// Revert rolls the pending change back now.
func (c *Confirmer) Revert(who string) (Pending, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, err := c.takePending()
	if err != nil {
		return Pending{}, err
	}
	err = c.apply(p.Old)
	c.reverted(*p, "reverted by "+who, err)
	return *p, err
}

// Pending returns the change waiting for confirmation, if any.
func (c *Confirmer) Pending() (Pending, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		return Pending{}, false
	}
	return *c.pending, true
}

// expire reverts change id when its deadline passes, unless it was
// confirmed or reverted in the meantime.
func (c *Confirmer) expire(id uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending
	if p == nil || p.ID != id {
		return
	}
	c.pending, c.timer = nil, nil
	err := c.apply(p.Old)
	c.reverted(*p, "not confirmed before the deadline", err)
}
