package quarantine

// The recency list links the slots of sources that are not quarantined,
// most recently charged first, so the source to evict is always the tail.
// Links are slot numbers; -1 ends the list.

func (t *Table) lruPushFront(s int32) {
	e := &t.slots[s]
	e.prev, e.next = -1, t.head
	if t.head >= 0 {
		t.slots[t.head].prev = s
	}
	t.head = s
	if t.tail < 0 {
		t.tail = s
	}
}

func (t *Table) lruRemove(s int32) {
	e := &t.slots[s]
	if e.prev >= 0 {
		t.slots[e.prev].next = e.next
	} else {
		t.head = e.next
	}
	if e.next >= 0 {
		t.slots[e.next].prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (t *Table) lruTouch(s int32) {
	if t.head == s {
		return
	}
	t.lruRemove(s)
	t.lruPushFront(s)
}
