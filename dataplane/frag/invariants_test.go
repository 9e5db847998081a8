package frag

import (
	"fmt"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// checkInvariants walks every internal structure and returns the first
// inconsistency: lists, index, fragment order and coverage, memory sums per
// datagram, per source and in total, and the holders heap.
func (r *Reassembler) checkInvariants() error {
	var held, bigCost int64
	frags := 0
	seen := map[int32]bool{}
	srcHeld := map[int32]int64{}
	for _, l := range []struct {
		list *dlist
		dead bool
	}{{&r.live, false}, {&r.dead, true}} {
		n := 0
		prevDeadline := int64(-1 << 62)
		prev := int32(none)
		for i := l.list.head; i != none; i = r.dgrams[i].next {
			d := &r.dgrams[i]
			n++
			if seen[i] {
				return fmt.Errorf("datagram %d listed twice", i)
			}
			seen[i] = true
			if d.prev != prev {
				return fmt.Errorf("datagram %d: prev link %d, want %d", i, d.prev, prev)
			}
			prev = i
			if d.deadline < prevDeadline {
				return fmt.Errorf("list not ordered by deadline")
			}
			prevDeadline = d.deadline
			if (d.dead != reason.None) != l.dead {
				return fmt.Errorf("datagram %d in the wrong list", i)
			}
			if j, ok := r.index[d.key]; !ok || j != i {
				return fmt.Errorf("datagram %d not indexed", i)
			}
			if l.dead {
				if len(d.frags) != 0 || d.held != 0 || d.nsrc != 0 {
					return fmt.Errorf("dead datagram %d holds something", i)
				}
				continue
			}
			var covered int32
			var dgHeld int64
			for j, h := range d.frags {
				if h.end <= h.off || j > 0 && d.frags[j-1].end > h.off {
					return fmt.Errorf("datagram %d: fragments overlap or out of order", i)
				}
				if h.class < 0 {
					return fmt.Errorf("datagram %d holds an unpooled fragment", i)
				}
				covered += h.end - h.off
				dgHeld += int64(bufferClasses[h.class])
			}
			dgHeld += d.bigCost
			bigCost += d.bigCost
			if covered != d.covered || dgHeld != d.held {
				return fmt.Errorf("datagram %d: covered %d/%d held %d/%d", i, covered, d.covered, dgHeld, d.held)
			}
			if d.total >= 0 && d.covered >= d.total {
				return fmt.Errorf("datagram %d complete but still held", i)
			}
			held += d.held
			frags += len(d.frags)
			for s := 0; s < int(d.nsrc); s++ {
				srcHeld[d.src[s]] += d.held
			}
		}
		if n != l.list.n {
			return fmt.Errorf("list count %d, walked %d", l.list.n, n)
		}
	}
	if len(r.index) != len(seen) || r.usedDG != len(seen) {
		return fmt.Errorf("index %d, used %d, listed %d", len(r.index), r.usedDG, len(seen))
	}
	if held != r.held || frags != r.liveFrag {
		return fmt.Errorf("held %d/%d fragments %d/%d", held, r.held, frags, r.liveFrag)
	}
	st := &r.srcs
	if len(st.index) != st.used {
		return fmt.Errorf("source index %d, used %d", len(st.index), st.used)
	}
	for k, i := range st.index {
		rec := &st.recs[i]
		if !rec.inUse || rec.key != k {
			return fmt.Errorf("source %v: record %d not in use", k, i)
		}
		if rec.held != srcHeld[i] {
			return fmt.Errorf("source %v holds %d, its datagrams %d", k, rec.held, srcHeld[i])
		}
		if (rec.held > 0) != (rec.heapIdx != none) {
			return fmt.Errorf("source %v: held %d heap index %d", k, rec.held, rec.heapIdx)
		}
	}
	for i := 1; i < len(st.holders); i++ {
		if st.recs[st.holders[(i-1)/2]].held < st.recs[st.holders[i]].held {
			return fmt.Errorf("holders heap out of order at %d", i)
		}
	}
	if r.pool.pooled < r.held-bigCost {
		return fmt.Errorf("pool %d smaller than the buffers held %d", r.pool.pooled, r.held-bigCost)
	}
	return nil
}
