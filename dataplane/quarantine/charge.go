package quarantine

import (
	"net/netip"
	"slices"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Blocked reports whether any of the frame's n sources is quarantined. It is
// the first step of the packet path: while nothing is quarantined it is one
// atomic load; otherwise one lock and n lookups. It allocates nothing.
//
// A frame whose IP source is in never_quarantine is never blocked (Q2),
// even when its source MAC is quarantined: a protected gateway or DNS
// server behind a quarantined MAC keeps its protected traffic.
func (t *Table) Blocked(keys [source.MaxKeys]source.Key, n int, now time.Time) bool {
	if t.quarantined.Load() == 0 {
		return false
	}
	ns := now.UnixNano()
	blocked := false
	t.mu.Lock()
	t.tick(ns)
	for i := 0; i < n && i < source.MaxKeys; i++ {
		s := t.slotOf(keys[i])
		if s < 0 || t.slots[s].heapPos < 0 {
			continue
		}
		if t.slots[s].until > ns {
			blocked = true
			break
		}
		t.endQuarantine(s, EventExpire, "", t.slots[s].until)
	}
	if blocked && len(t.never) > 0 {
		for i := 0; i < n && i < source.MaxKeys; i++ {
			if keys[i].Kind != source.KindMAC && t.isProtected(keys[i]) {
				blocked = false
			}
		}
	}
	t.mu.Unlock()
	t.deliverEvents()
	return blocked
}

// NeverQuarantine returns the never_quarantine prefixes in force.
func (t *Table) NeverQuarantine() []netip.Prefix {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.never)
}

// Charge records one dropped frame against each of its n sources under
// reason r (Q1). A violation that takes a source over quarantine_threshold
// within quarantine_window quarantines it, unless never_quarantine covers it
// (Q2). At most max_sources are tracked: a new source takes the place of the
// least recently charged one that is not quarantined (Q4). Once the table
// has grown to its working size Charge allocates nothing.
//
// A frame dropped because one of its sources is quarantined is charged to
// the sources already tracked and does not start tracking new ones: a
// quarantined host that forges a new IP source in every frame would
// otherwise fill the table with addresses that exist nowhere, evicting the
// history of every honest host (and growing the table to its bound in under
// a second of flood).
func (t *Table) Charge(keys [source.MaxKeys]source.Key, n int, r reason.Reason, now time.Time) {
	t.ChargeFrames(keys, n, r, now, 1)
}

// ChargeFrames is Charge for a frame that stands for frames wire frames:
// an offloaded aggregate dropped as a whole is charged as the segments it
// holds, so a source is quarantined after the same traffic whether or not
// the port merges its segments.
func (t *Table) ChargeFrames(keys [source.MaxKeys]source.Key, n int, r reason.Reason, now time.Time, frames int) {
	if int(r) >= reason.Count || frames < 1 {
		return
	}
	k := uint64(frames)
	ns := now.UnixNano()
	t.mu.Lock()
	t.tick(ns)
	t.expireDue(ns)
	for i := 0; i < n && i < source.MaxKeys; i++ {
		if keys[i].Kind == source.KindNone {
			continue
		}
		var s int32
		if r == reason.Quarantined {
			if s = t.slotOf(keys[i]); s < 0 {
				continue
			}
		} else {
			s = t.lookupOrAdd(keys[i], ns)
		}
		e := &t.slots[s]
		e.counts[r] += k
		e.drops += k
		e.lastSeen = ns
		if e.heapPos < 0 {
			t.lruTouch(s)
		}
		if !r.IsViolation() {
			continue
		}
		e.violations += k
		if e.win.addN(ns/t.bucketNs, uint32(min(k, uint64(^uint32(0))))) > t.threshold && e.heapPos < 0 && !e.protected {
			t.startAutomatic(s, ns)
		}
	}
	t.mu.Unlock()
	t.deliverEvents()
}

// slotOf returns the slot of a tracked source, or -1.
func (t *Table) slotOf(k source.Key) int32 { return t.idx.find(t.slots, k, t.idx.hash(k)) }

// lookupOrAdd returns the slot of k, adding it (and evicting the least
// recently charged unquarantined source when full) if it is new.
func (t *Table) lookupOrAdd(k source.Key, now int64) int32 {
	h := t.idx.hash(k)
	if s := t.idx.find(t.slots, k, h); s >= 0 {
		return s
	}
	var s int32
	if len(t.slots) < t.maxSources {
		s = int32(len(t.slots))
		t.slots = append(t.slots, slot{})
	} else {
		if t.tail < 0 {
			// Every slot quarantined cannot happen while the cap is half the
			// table, but the table must never lose its bound if it did.
			t.endQuarantine(t.expiry[0], EventEvicted, "", now)
		}
		s = t.tail
		t.lruRemove(s)
		t.idx.remove(t.slots, t.slots[s].hash, s)
	}
	t.slots[s] = slot{
		key: k, hash: h, firstSeen: now, lastSeen: now,
		prev: -1, next: -1, heapPos: -1,
		protected: t.isProtected(k),
	}
	t.idx.insert(h, s)
	t.lruPushFront(s)
	return s
}

// expireDue ends quarantines whose time has come. The common case, nothing
// due, is one comparison.
func (t *Table) expireDue(now int64) {
	for len(t.expiry) > 0 {
		s := t.expiry[0]
		if t.slots[s].until > now {
			return
		}
		t.endQuarantine(s, EventExpire, "", t.slots[s].until)
	}
}

// startAutomatic quarantines slot s for quarantine_time doubled per earlier
// offence, capped at quarantine_max. A source whose last quarantine ended
// more than quarantine_max ago starts over as a first offender.
func (t *Table) startAutomatic(s int32, now int64) {
	e := &t.slots[s]
	if e.lastReleased != 0 && now-e.lastReleased > int64(t.quarMax) {
		e.offences = 0
	}
	if e.offences < 1<<20 {
		e.offences++
	}
	d := t.quarTime
	for i := uint32(1); i < e.offences && d < t.quarMax; i++ {
		d *= 2
	}
	d = min(d, t.quarMax)
	t.startQuarantine(s, now, now+int64(d), true, "")
}

// startQuarantine puts slot s (not quarantined) under quarantine until
// until, making room under the cap by ending the quarantine that would end
// first.
func (t *Table) startQuarantine(s int32, now, until int64, automatic bool, by string) {
	for len(t.expiry) >= t.maxQuarantin {
		t.endQuarantine(t.expiry[0], EventEvicted, "", now)
	}
	e := &t.slots[s]
	t.lruRemove(s)
	e.since, e.until, e.automatic, e.by = now, until, automatic, by
	t.heapPush(s)
	t.quarantined.Store(int32(len(t.expiry)))
	t.logEvent(s, EventQuarantine, automatic, by, now)
	// The violations that caused it are paid for; frames dropped while
	// quarantined are not violations, so the window starts empty.
	e.win.reset()
}

// endQuarantine lifts slot s's quarantine at time now and logs why.
func (t *Table) endQuarantine(s int32, kind EventKind, by string, now int64) {
	e := &t.slots[s]
	t.heapRemove(s)
	t.quarantined.Store(int32(len(t.expiry)))
	e.lastReleased = now
	e.win.reset()
	t.logEnd(s, kind, by, now)
	t.lruPushFront(s)
}
