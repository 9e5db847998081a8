package frag

import "github.com/rackwall/rackwall/dataplane/reason"

// share is F11's fair share for source s: max(fragment_memory / active
// sources, per_source_floor), where active sources are those holding
// fragments, s counted among them.
func (r *Reassembler) share(s int32) int64 {
	active := int64(len(r.srcs.holders))
	if s == none || r.srcs.recs[s].held == 0 {
		active++
	}
	share := r.pol.FragmentMemory / active
	if share < r.pol.PerSourceFloor {
		share = r.pol.PerSourceFloor
	}
	return share
}

// makeRoom frees memory so datagram di can hold cost more bytes (F11). A
// source of di over its share evicts its own oldest datagrams, never another
// source's; over the global budget, the oldest datagram of the biggest
// holder goes. It reports false if di itself was evicted (it is then dead,
// FragMemory) or the bytes cannot fit at all.
func (r *Reassembler) makeRoom(di int32, cost int64) bool {
	if cost > r.pol.FragmentMemory {
		return false
	}
	d := &r.dgrams[di]
	for slot := 0; slot < int(d.nsrc); slot++ {
		s := d.src[slot]
		for r.srcs.recs[s].held+cost > r.share(s) {
			victim := r.srcs.recs[s].head
			if victim == none {
				return false
			}
			r.kill(victim, reason.FragMemory, true)
			if victim == di {
				return false
			}
		}
	}
	for r.held+cost > r.pol.FragmentMemory {
		if len(r.srcs.holders) == 0 {
			return false
		}
		victim := r.srcs.recs[r.srcs.holders[0]].head
		r.kill(victim, reason.FragMemory, true)
		if victim == di {
			return false
		}
	}
	return true
}

// charge counts cost more bytes for datagram di and its sources.
func (r *Reassembler) charge(di int32, cost int64) {
	d := &r.dgrams[di]
	d.held += cost
	r.held += cost
	for slot := 0; slot < int(d.nsrc); slot++ {
		s := d.src[slot]
		r.srcs.setHeld(s, r.srcs.recs[s].held+cost)
	}
}

// uncharge gives back cost bytes of datagram di.
func (r *Reassembler) uncharge(di int32, cost int64) {
	d := &r.dgrams[di]
	d.held -= cost
	r.held -= cost
	for slot := 0; slot < int(d.nsrc); slot++ {
		s := d.src[slot]
		r.srcs.setHeld(s, r.srcs.recs[s].held-cost)
	}
}
