package frag

import (
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// dlist is a doubly linked list of datagram records, linked by index
// through datagram.prev/next.
type dlist struct {
	head, tail int32
	n          int
}

func newDList() dlist { return dlist{head: none, tail: none} }

func (l *dlist) remove(recs []datagram, i int32) {
	d := &recs[i]
	if d.prev != none {
		recs[d.prev].next = d.next
	} else {
		l.head = d.next
	}
	if d.next != none {
		recs[d.next].prev = d.prev
	} else {
		l.tail = d.prev
	}
	d.prev, d.next = none, none
	l.n--
}

// insertByDeadline links a datagram into l, keeping l ordered by deadline.
// Deadlines are arrival time plus one timeout, so a new datagram almost
// always goes at the tail: the walk back from the tail is O(1) unless the
// timeout was just lowered.
func (r *Reassembler) insertByDeadline(l *dlist, i int32) {
	recs := r.dgrams
	d := &recs[i]
	after := l.tail
	for after != none && recs[after].deadline > d.deadline {
		after = recs[after].prev
	}
	d.prev = after
	if after == none {
		d.next = l.head
		l.head = i
	} else {
		d.next = recs[after].next
		recs[after].next = i
	}
	if d.next == none {
		l.tail = i
	} else {
		recs[d.next].prev = i
	}
	l.n++
}

// expire applies F8: a live datagram whose deadline has passed drops all its
// fragments as FragTimeout and is forgotten; a dead one is forgotten, so its
// key is free again.
func (r *Reassembler) expire(t int64) {
	for r.live.head != none && r.dgrams[r.live.head].deadline < t {
		r.kill(r.live.head, reason.FragTimeout, false)
	}
	for r.dead.head != none && r.dgrams[r.dead.head].deadline < t {
		r.forget(r.dead.head)
	}
}

// Expire applies F8 at time now: every datagram not complete within
// fragment_timeout of its first fragment has its fragments dropped
// (reason.FragTimeout, through the Sink), and dead datagrams past their
// deadline are forgotten. Submit expires too; call Expire often so idle
// datagrams are not held longer than their deadline.
func (r *Reassembler) Expire(now time.Time) {
	r.expire(now.UnixNano())
}
