package quarantine

import (
	"slices"
	"time"

	"github.com/rackwall/rackwall/dataplane/source"
)

// EventKind says what happened to a source's quarantine.
type EventKind uint8

const (
	EventQuarantine EventKind = iota + 1 // quarantined, automatically or by hand
	EventRelease                         // released by hand (or by a policy change)
	EventExpire                          // the quarantine ran its time
	EventEvicted                         // ended early to make room for another (Q4 cap)
)

func (k EventKind) String() string {
	switch k {
	case EventQuarantine:
		return "quarantine"
	case EventRelease:
		return "release"
	case EventExpire:
		return "expire"
	case EventEvicted:
		return "evicted"
	}
	return "unknown"
}

// Event is one change to a source's quarantine (Q3). Seq numbers events
// from 1 upward without gaps, so a reader asks for what follows the last Seq
// it saw.
type Event struct {
	Seq  uint64
	Kind EventKind
	Time time.Time
	Key  source.Key
	// Since and Until bound the quarantine this event starts or ends.
	Since, Until time.Time
	// Offence is the source's count of automatic quarantines so far; a
	// quarantine lasts quarantine_time × 2^(Offence-1), capped.
	Offence int
	// Automatic is true for quarantines the threshold caused and for
	// expiries; By names the operator (or "never_quarantine" for a release
	// by policy change) otherwise.
	Automatic bool
	By        string
	// Counts are the source's drops by reason at this moment, and Recent its
	// violations within the current window.
	Counts Counts
	Recent int
}

// hookID tells subscriptions apart (func values are not comparable).
type hookID = *func(Event)

// eventLogSize is how many recent events Events and Source can return.
const eventLogSize = 1024

// eventLog is a ring of the most recent events, allocated once.
type eventLog struct {
	ring []Event
	next uint64 // seq of the next event; the first is 1
}

func (l *eventLog) init(n int) {
	l.ring = make([]Event, n)
	l.next = 1
}

func (l *eventLog) add(ev *Event) {
	ev.Seq = l.next
	l.ring[l.next%uint64(len(l.ring))] = *ev
	l.next++
}

// oldest returns the seq of the oldest event still held.
func (l *eventLog) oldest() uint64 {
	if l.next > uint64(len(l.ring)) {
		return l.next - uint64(len(l.ring))
	}
	return 1
}

func (l *eventLog) at(seq uint64) *Event { return &l.ring[seq%uint64(len(l.ring))] }

// logEvent writes an event for slot s. Callers hold t.mu.
func (t *Table) logEvent(s int32, kind EventKind, automatic bool, by string, now int64) {
	e := &t.slots[s]
	ev := Event{
		Kind:      kind,
		Time:      unixNano(now),
		Key:       e.key,
		Since:     unixNano(e.since),
		Until:     unixNano(e.until),
		Offence:   int(e.offences),
		Automatic: automatic,
		By:        by,
		Counts:    e.counts,
		Recent:    int(e.win.count(now / t.bucketNs)),
	}
	t.events.add(&ev)
	t.lastSeq.Store(t.events.next - 1)
}

// logEnd writes the event that ends slot s's quarantine.
func (t *Table) logEnd(s int32, kind EventKind, by string, now int64) {
	t.logEvent(s, kind, kind == EventExpire || kind == EventEvicted, by, now)
}

// Events returns the events after seq since that are still held, oldest
// first. Events(0) returns all held events.
func (t *Table) Events(since uint64) []Event {
	t.mu.Lock()
	defer t.mu.Unlock()
	from := max(since+1, t.events.oldest())
	var out []Event
	for seq := from; seq < t.events.next; seq++ {
		out = append(out, *t.events.at(seq))
	}
	return out
}

// Subscribe calls fn with every event from now on, in order, from the
// goroutine whose call caused it (often the packet loop), after the table's
// lock is released: fn may call the table, but should hand work off rather
// than block. The returned function unsubscribes.
func (t *Table) Subscribe(fn func(Event)) (cancel func()) {
	t.mu.Lock()
	defer t.mu.Unlock()
	id := &fn
	hooks := make([]func(Event), 0, len(t.hooks)+1)
	hooks = append(hooks, t.hooks...)
	t.hooks = append(hooks, fn)
	t.hookIDs = slices.Concat(t.hookIDs, []hookID{id})
	return func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		for i, h := range t.hookIDs {
			if h == id {
				hooks := slices.Concat(t.hooks[:i], t.hooks[i+1:])
				ids := slices.Concat(t.hookIDs[:i], t.hookIDs[i+1:])
				t.hooks, t.hookIDs = hooks, ids
				return
			}
		}
	}
}

// deliverEvents hands logged events to the hooks. Only one goroutine
// delivers at a time; one that finds delivery busy leaves its events to the
// deliverer, which keeps going until nothing is pending. A hook that calls
// back into the table therefore cannot deadlock.
func (t *Table) deliverEvents() {
	for t.sent.Load() != t.lastSeq.Load() {
		if !t.deliver.TryLock() {
			return
		}
		for {
			t.mu.Lock()
			seq := t.sent.Load() + 1
			if seq >= t.events.next {
				t.mu.Unlock()
				break
			}
			seq = max(seq, t.events.oldest()) // a burst overran the log: skip what is gone
			ev := *t.events.at(seq)
			hooks := t.hooks
			t.mu.Unlock()
			t.sent.Store(seq)
			for _, h := range hooks {
				h(ev)
			}
		}
		t.deliver.Unlock()
	}
}
