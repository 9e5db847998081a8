package quarantine

import (
	"errors"
	"fmt"
	"time"

	"github.com/rackwall/rackwall/dataplane/source"
)

// ErrNotQuarantined is returned by Release for a source that is not quarantined.
var ErrNotQuarantined = errors.New("source is not quarantined")

// Quarantine quarantines k by hand for d (Q3), or changes the end of its
// current quarantine to now+d. by names the operator. Sources covered by
// never_quarantine cannot be quarantined (Q2); d must be positive and at
// most quarantine_max. A manual quarantine does not count as an offence.
func (t *Table) Quarantine(k source.Key, d time.Duration, by string, now time.Time) error {
	if k.Kind == source.KindNone {
		return errors.New("quarantine: no source given")
	}
	t.mu.Lock()
	if d <= 0 || d > t.quarMax {
		max := t.quarMax
		t.mu.Unlock()
		return fmt.Errorf("quarantine %s: duration %v is outside 0 to quarantine_max (%v)", k, d, max)
	}
	if t.isProtected(k) {
		t.mu.Unlock()
		return fmt.Errorf("quarantine %s: the source is in never_quarantine", k)
	}
	ns := now.UnixNano()
	t.tick(ns)
	t.expireDue(ns)
	s := t.lookupOrAdd(k, ns)
	e := &t.slots[s]
	if e.heapPos >= 0 {
		e.until, e.automatic, e.by = ns+int64(d), false, by
		t.heapFix(s)
		t.logEvent(s, EventQuarantine, false, by, ns)
	} else {
		t.startQuarantine(s, ns, ns+int64(d), false, by)
	}
	t.mu.Unlock()
	t.deliverEvents()
	return nil
}

// Release lifts k's quarantine by hand (Q3). by names the operator.
func (t *Table) Release(k source.Key, by string, now time.Time) error {
	ns := now.UnixNano()
	t.mu.Lock()
	t.tick(ns)
	t.expireDue(ns)
	s := t.slotOf(k)
	if s < 0 || t.slots[s].heapPos < 0 {
		t.mu.Unlock()
		return fmt.Errorf("release %s: %w", k, ErrNotQuarantined)
	}
	t.endQuarantine(s, EventRelease, by, ns)
	t.mu.Unlock()
	t.deliverEvents()
	return nil
}

// Expire ends every quarantine whose time has passed by now. Blocked and
// Charge expire lazily as they meet them; the appliance calls Expire on a
// timer so expiry events appear on time even without traffic.
func (t *Table) Expire(now time.Time) {
	ns := now.UnixNano()
	t.mu.Lock()
	t.tick(ns)
	t.expireDue(ns)
	t.mu.Unlock()
	t.deliverEvents()
}
