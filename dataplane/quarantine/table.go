// Package quarantine is per-source containment (docs/POLICY.md Q1–Q4): every
// drop is charged to its sources with its reason, a source whose violations
// within a sliding window exceed the threshold is quarantined (its frames are
// then dropped first thing, cheaply), quarantines expire and double for
// repeat offenders, the operator can quarantine and release by hand, and
// every table is bounded however many sources a flood invents.
//
// The packet loop calls Blocked and Charge, which allocate nothing once the
// table has grown to its working size; the UI and the appliance call the
// rest. All methods are safe for concurrent use. Time is always passed in,
// never read from the clock, so tests and replays are exact.
package quarantine

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Counts are drops by reason, indexed by reason.Reason.
type Counts [reason.Count]uint64

// Violations is the sum of the counts that are policy violations (Q1).
func (c *Counts) Violations() uint64 {
	var n uint64
	for r := range c {
		if reason.Reason(r).IsViolation() {
			n += c[r]
		}
	}
	return n
}

// Worst returns the violation reason with the highest count, or reason.None.
func (c *Counts) Worst() reason.Reason {
	best := reason.None
	for r := range c {
		if reason.Reason(r).IsViolation() && c[r] > 0 && (best == reason.None || c[r] > c[best]) {
			best = reason.Reason(r)
		}
	}
	return best
}

// slot is one tracked source.
type slot struct {
	key        source.Key
	hash       uint64
	counts     Counts
	drops      uint64
	violations uint64
	win        window
	firstSeen  int64 // Unix ns
	lastSeen   int64 // last Charge, Unix ns
	prev, next int32 // recency list; unused while quarantined
	heapPos    int32 // position in the expiry heap, -1 when not quarantined
	protected  bool  // covered by never_quarantine (Q2)

	offences     uint32 // automatic quarantines that count toward doubling
	lastReleased int64  // Unix ns the last quarantine ended; 0 never

	// The current quarantine, valid while heapPos >= 0.
	since, until int64
	automatic    bool
	by           string
}

// Table tracks sources and their quarantines. Create it with New.
type Table struct {
	mu sync.Mutex

	// Policy, as plain numbers for the hot path.
	threshold    uint32
	bucketNs     int64
	quarTime     time.Duration
	quarMax      time.Duration
	never        []netip.Prefix
	maxSources   int
	maxQuarantin int

	slots      []slot
	idx        index
	head, tail int32   // recency list, most recent first
	expiry     []int32 // heap of quarantined slots by until

	quarantined atomic.Int32 // len(expiry), read without the lock by Blocked
	clock       int64        // latest time any call passed in, Unix ns

	events  eventLog
	hooks   []func(Event) // replaced, never modified, so delivery can read a snapshot
	hookIDs []hookID
	deliver sync.Mutex
	sent    atomic.Uint64 // last event seq handed to the hooks
	lastSeq atomic.Uint64 // last event seq logged
}

// New returns an empty table for the policy p.
func New(p *config.Policy) *Table {
	t := &Table{head: -1, tail: -1}
	t.events.init(eventLogSize)
	t.applyPolicy(p)
	t.idx = newIndex(t.maxSources)
	t.slots = make([]slot, 0, min(t.maxSources, 1024))
	return t
}

// quarantineCap bounds how many sources are quarantined at once: at most
// half the table, so the recency list always has sources to evict.
func quarantineCap(maxSources int) int { return max(1, maxSources/2) }

func (t *Table) applyPolicy(p *config.Policy) {
	t.threshold = uint32(min(max(p.QuarantineThreshold, 0), 1<<31))
	t.bucketNs = max(int64(p.QuarantineWindow)/windowBuckets, 1)
	t.quarTime = p.QuarantineTime
	t.quarMax = max(p.QuarantineMax, p.QuarantineTime)
	t.never = append([]netip.Prefix(nil), p.NeverQuarantine...)
	t.maxSources = max(p.MaxSources, 2)
	t.maxQuarantin = quarantineCap(t.maxSources)
}

// SetPolicy applies a new policy. Counters are kept. A changed window
// restarts every source's window (old buckets have the wrong width); newly
// protected sources are released; a smaller max_sources forgets the least
// recently charged sources (quarantined ones are kept first, up to the cap).
func (t *Table) SetPolicy(p *config.Policy) {
	t.mu.Lock()
	oldBucket, oldMax := t.bucketNs, t.maxSources
	t.applyPolicy(p)
	now := t.clock
	if t.bucketNs != oldBucket {
		for i := range t.slots {
			t.slots[i].win = window{}
		}
	}
	for i := range t.slots {
		s := int32(i)
		e := &t.slots[s]
		e.protected = t.isProtected(e.key)
		if e.protected && e.heapPos >= 0 {
			t.endQuarantine(s, EventRelease, "never_quarantine", now)
		}
	}
	if t.maxSources != oldMax || len(t.expiry) > t.maxQuarantin {
		t.rebuild()
	}
	t.mu.Unlock()
	t.deliverEvents()
}

// rebuild re-creates the slot array and index for the current bounds,
// keeping quarantined sources first (those ending last, up to the cap), then
// the most recently charged ones.
func (t *Table) rebuild() {
	old := t.slots
	var keep []int32
	// Quarantined, latest expiry first: pop the heap into a list.
	var quar []int32
	for len(t.expiry) > 0 {
		s := t.expiry[0]
		t.heapRemove(s)
		quar = append(quar, s)
	}
	for i := len(quar) - 1; i >= 0 && len(keep) < t.maxQuarantin; i-- {
		keep = append(keep, quar[i])
	}
	for _, s := range quar[:len(quar)-len(keep)] {
		t.logEnd(s, EventEvicted, "", t.clock)
	}
	for s := t.head; s >= 0 && len(keep) < t.maxSources; s = old[s].next {
		keep = append(keep, s)
	}
	nq := min(len(quar), t.maxQuarantin)

	t.slots = make([]slot, 0, min(t.maxSources, max(len(keep), 1024)))
	t.idx = newIndex(t.maxSources)
	t.head, t.tail = -1, -1
	t.expiry = t.expiry[:0]
	// Recency order is rebuilt by pushing the least recent first.
	for i := len(keep) - 1; i >= 0; i-- {
		e := old[keep[i]]
		e.prev, e.next, e.heapPos = -1, -1, -1
		e.hash = t.idx.hash(e.key) // the new index has its own seed
		s := int32(len(t.slots))
		t.slots = append(t.slots, e)
		t.idx.insert(e.hash, s)
		if i < nq {
			t.heapPush(s)
		} else {
			t.lruPushFront(s)
		}
	}
	t.quarantined.Store(int32(len(t.expiry)))
}

// isProtected reports whether never_quarantine covers the source. An IPv6
// source is a /64, so it is protected when any listed prefix overlaps it: a
// protected gateway address must not be cut off through its /64.
func (t *Table) isProtected(k source.Key) bool {
	p, ok := k.Prefix()
	if !ok {
		return false
	}
	for _, n := range t.never {
		if n.Overlaps(p) {
			return true
		}
	}
	return false
}

// Len returns how many sources are tracked.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.slots)
}

// NumQuarantined returns how many sources are quarantined (some may be
// past their end until the next Expire, Blocked or Charge).
func (t *Table) NumQuarantined() int { return int(t.quarantined.Load()) }

func (t *Table) tick(now int64) {
	if now > t.clock {
		t.clock = now
	}
}

func unixNano(ns int64) time.Time { return time.Unix(0, ns).UTC() }
