package quarantine

// The expiry heap holds the slots of quarantined sources, the one whose
// quarantine ends first on top: Expire pops from it, and when the number of
// quarantined sources is at its cap the top one makes room.

func (t *Table) heapLess(a, b int32) bool { return t.slots[a].until < t.slots[b].until }

func (t *Table) heapSwap(i, j int) {
	t.expiry[i], t.expiry[j] = t.expiry[j], t.expiry[i]
	t.slots[t.expiry[i]].heapPos = int32(i)
	t.slots[t.expiry[j]].heapPos = int32(j)
}

func (t *Table) heapUp(i int) {
	for i > 0 {
		parent := (i - 1) / 2
		if !t.heapLess(t.expiry[i], t.expiry[parent]) {
			return
		}
		t.heapSwap(i, parent)
		i = parent
	}
}

// heapDown reports whether the entry at i moved.
func (t *Table) heapDown(i int) bool {
	start, n := i, len(t.expiry)
	for {
		least, l, r := i, 2*i+1, 2*i+2
		if l < n && t.heapLess(t.expiry[l], t.expiry[least]) {
			least = l
		}
		if r < n && t.heapLess(t.expiry[r], t.expiry[least]) {
			least = r
		}
		if least == i {
			return i != start
		}
		t.heapSwap(i, least)
		i = least
	}
}

func (t *Table) heapPush(s int32) {
	t.expiry = append(t.expiry, s)
	t.slots[s].heapPos = int32(len(t.expiry) - 1)
	t.heapUp(len(t.expiry) - 1)
}

// heapRemove takes slot s out of the heap.
func (t *Table) heapRemove(s int32) {
	i := int(t.slots[s].heapPos)
	last := len(t.expiry) - 1
	if i != last {
		t.heapSwap(i, last)
	}
	t.expiry = t.expiry[:last]
	t.slots[s].heapPos = -1
	if i != last && !t.heapDown(i) {
		t.heapUp(i)
	}
}

// heapFix restores order after slot s's until changed.
func (t *Table) heapFix(s int32) {
	if i := int(t.slots[s].heapPos); !t.heapDown(i) {
		t.heapUp(i)
	}
}
