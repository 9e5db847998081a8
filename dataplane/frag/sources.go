package frag

import (
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// sourceRec is what the reassembler knows about one source (F12): the
// memory its datagrams hold, its datagrams oldest first, and its fragment
// rate token bucket.
type sourceRec struct {
	key      source.Key
	held     int64
	head     int32 // oldest datagram charged to it
	tail     int32
	tokens   int64 // token bucket, in billionths of a fragment
	refilled int64 // when tokens were last topped up
	heapIdx  int32 // place in holders, or none when it holds nothing
	// LRU of sources holding nothing, which may be recycled when the table
	// is full (their only state is a token bucket).
	idlePrev, idleNext int32
	inUse              bool
}

// sourceTable is the bounded table of sources (Q4): a slab, its key index,
// a max-heap of sources by memory held, and an LRU of idle sources.
type sourceTable struct {
	recs     []sourceRec
	free     []int32
	index    map[source.Key]int32
	holders  []int32 // max-heap by held
	idleHead int32
	idleTail int32
	used     int
	max      int
}

func (st *sourceTable) resize(max int) {
	if st.index == nil {
		st.index = make(map[source.Key]int32, max)
		st.idleHead, st.idleTail = none, none
		st.holders = make([]int32, 0, 64)
	}
	st.max = max
	if n := len(st.recs); max > n {
		grown := make([]sourceRec, max)
		copy(grown, st.recs)
		for i := max - 1; i >= n; i-- {
			st.free = append(st.free, int32(i))
		}
		st.recs = grown
	}
}

// sourceFor returns the record of key k, creating it if needed. A full
// table recycles its least recently used idle source (never one in
// protect); if every source holds fragments, the oldest datagrams are
// evicted until one is idle.
func (r *Reassembler) sourceFor(k source.Key, t int64, protect []int32) int32 {
	st := &r.srcs
	if i, ok := st.index[k]; ok {
		if st.recs[i].heapIdx == none {
			st.idleRemove(i)
			st.idleAppend(i)
		}
		return i
	}
	for st.used >= st.max || len(st.free) == 0 {
		v := st.idleHead
		for v != none && contains(protect, v) {
			v = st.recs[v].idleNext
		}
		switch {
		case v != none:
			st.idleRemove(v)
			delete(st.index, st.recs[v].key)
			st.recs[v].inUse = false
			st.free = append(st.free, v)
			st.used--
		case r.live.head != none:
			r.kill(r.live.head, reason.FragMemory, true)
		default:
			return none
		}
	}
	n := len(st.free)
	i := st.free[n-1]
	st.free = st.free[:n-1]
	st.used++
	rec := &st.recs[i]
	*rec = sourceRec{
		key:      k,
		head:     none,
		tail:     none,
		tokens:   int64(max(r.pol.FragmentBurst, 1)) * tokenUnit,
		refilled: t,
		heapIdx:  none,
		inUse:    true,
	}
	st.index[k] = i
	st.idleAppend(i)
	return i
}

func contains(s []int32, v int32) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// tokenUnit is one fragment in the token bucket's fixed-point units.
const tokenUnit = int64(1e9)

// takeTokens is the F11 rate limit: every source of the fragment must have a
// token (FragmentRate per second, at most FragmentBurst saved up); if all
// do, each pays one. A rate of 0 turns the limit off.
func (r *Reassembler) takeTokens(srcs []int32, t int64) bool {
	rate := int64(r.pol.FragmentRate)
	if rate <= 0 {
		return true
	}
	full := int64(max(r.pol.FragmentBurst, 1)) * tokenUnit
	ok := true
	for _, s := range srcs {
		rec := &r.srcs.recs[s]
		if el := t - rec.refilled; el > 0 {
			// Refill: rate fragments per second is rate units per ns.
			// Capping the elapsed time first keeps the product in range.
			if limit := full/rate + 1; el > limit {
				el = limit
			}
			rec.tokens = min(rec.tokens+el*rate, full)
			rec.refilled = t
		}
		if rec.tokens > full {
			rec.tokens = full // the burst was lowered
		}
		if rec.tokens < tokenUnit {
			ok = false
		}
	}
	if ok {
		for _, s := range srcs {
			r.srcs.recs[s].tokens -= tokenUnit
		}
	}
	return ok
}

func (st *sourceTable) idleAppend(i int32) {
	rec := &st.recs[i]
	rec.idlePrev, rec.idleNext = st.idleTail, none
	if st.idleTail != none {
		st.recs[st.idleTail].idleNext = i
	} else {
		st.idleHead = i
	}
	st.idleTail = i
}

func (st *sourceTable) idleRemove(i int32) {
	rec := &st.recs[i]
	if rec.idlePrev != none {
		st.recs[rec.idlePrev].idleNext = rec.idleNext
	} else {
		st.idleHead = rec.idleNext
	}
	if rec.idleNext != none {
		st.recs[rec.idleNext].idlePrev = rec.idlePrev
	} else {
		st.idleTail = rec.idlePrev
	}
	rec.idlePrev, rec.idleNext = none, none
}

// appendDatagram links datagram di as the newest of source s.
func (st *sourceTable) appendDatagram(dgrams []datagram, s, di int32) {
	rec := &st.recs[s]
	d := &dgrams[di]
	slot := d.slotOf(s)
	d.srcPrev[slot], d.srcNext[slot] = rec.tail, none
	if rec.tail != none {
		t := &dgrams[rec.tail]
		t.srcNext[t.slotOf(s)] = di
	} else {
		rec.head = di
	}
	rec.tail = di
}

// unlinkSources removes a datagram from its sources' lists.
func (r *Reassembler) unlinkSources(di int32) {
	d := &r.dgrams[di]
	for slot := 0; slot < int(d.nsrc); slot++ {
		s := d.src[slot]
		rec := &r.srcs.recs[s]
		prev, next := d.srcPrev[slot], d.srcNext[slot]
		if prev != none {
			p := &r.dgrams[prev]
			p.srcNext[p.slotOf(s)] = next
		} else {
			rec.head = next
		}
		if next != none {
			n := &r.dgrams[next]
			n.srcPrev[n.slotOf(s)] = prev
		} else {
			rec.tail = prev
		}
	}
	d.nsrc = 0
}

// The holders heap orders sources by bytes held, biggest first, so the
// global budget can evict from the biggest holder in O(log n).

func (st *sourceTable) heapLess(a, b int) bool {
	return st.recs[st.holders[a]].held > st.recs[st.holders[b]].held
}

func (st *sourceTable) heapSwap(a, b int) {
	h := st.holders
	h[a], h[b] = h[b], h[a]
	st.recs[h[a]].heapIdx = int32(a)
	st.recs[h[b]].heapIdx = int32(b)
}

func (st *sourceTable) heapUp(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !st.heapLess(i, p) {
			return
		}
		st.heapSwap(i, p)
		i = p
	}
}

func (st *sourceTable) heapDown(i int) {
	n := len(st.holders)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && st.heapLess(r, l) {
			c = r
		}
		if !st.heapLess(c, i) {
			return
		}
		st.heapSwap(i, c)
		i = c
	}
}

// setHeld changes a source's held bytes and keeps the heap and the idle
// list in step.
func (st *sourceTable) setHeld(s int32, held int64) {
	rec := &st.recs[s]
	old := rec.held
	rec.held = held
	switch {
	case old == 0 && held > 0:
		st.idleRemove(s)
		rec.heapIdx = int32(len(st.holders))
		st.holders = append(st.holders, s)
		st.heapUp(int(rec.heapIdx))
	case old > 0 && held == 0:
		i := int(rec.heapIdx)
		last := len(st.holders) - 1
		if i != last {
			st.heapSwap(i, last)
		}
		st.holders = st.holders[:last]
		rec.heapIdx = none
		if i != last {
			st.heapDown(i)
			st.heapUp(i)
		}
		st.idleAppend(s)
	case held > old:
		st.heapUp(int(rec.heapIdx))
	case held < old:
		st.heapDown(int(rec.heapIdx))
	}
}
