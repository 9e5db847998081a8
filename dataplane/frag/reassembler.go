package frag

import (
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Sink receives what leaves or dies. Frames passed to it are only valid
// during the call, and it must not call back into the Reassembler.
type Sink interface {
	// Release hands over an original fragment of a datagram that passed. The
	// fragments of one datagram are released one after another in offset
	// order; port is the port each arrived on.
	Release(port uint8, frame []byte)
	// Drop reports a held fragment dropped with one reason; f is the
	// fragment decoded again, for accounting and capture.
	Drop(port uint8, frame []byte, r reason.Reason, f *packet.Frame)
}

// Judge is called once per complete datagram with a decoded view of the
// whole datagram and returns reason.None to let it pass (the filter). The
// view is only valid during the call.
//
// The whole datagram keeps the first fragment's Ethernet and VLAN headers.
// IPv4: the first fragment's IP header with MF and the offset cleared, the
// total length set and the header checksum recomputed. IPv6: the fragment
// header is removed (the header before it names the fragment header's next
// header) and the payload length is set, so the view is exactly the packet
// the receiving host reassembles.
type Judge func(whole *packet.Frame, dir packet.Direction) reason.Reason

// Reassembler holds fragments until their datagram is complete and enforces
// POLICY.md F1–F12 on them. The zero value is not usable: call New.
type Reassembler struct {
	pol  config.Policy
	sink Sink

	// Datagram records: a slab linked by index, a free stack, and the key
	// index. Dead records stay (in their own list) until their deadline.
	dgrams   []datagram
	freeDG   []int32
	index    map[datagramKey]int32
	live     dlist // ordered by deadline
	dead     dlist // ordered by deadline
	maxDG    int
	usedDG   int
	liveFrag int // fragments held in live datagrams

	srcs    sourceTable
	held    int64 // buffer bytes held by all datagrams
	pool    bufferPool
	scratch []byte       // the whole datagram under judgement
	whole   packet.Frame // its decoded view
	view    packet.Frame // a held fragment decoded again for Sink.Drop
}

// Stats is a snapshot of the reassembler's state.
type Stats struct {
	BytesHeld      int64 // memory charged for incomplete datagrams: buffer capacity, plus fragment lists longer than a record's own
	BytesPooled    int64 // buffer bytes allocated, held or free for reuse
	Budget         int64 // fragment_memory
	DatagramsHeld  int   // datagrams being reassembled
	DeadRemembered int   // dead datagrams remembered until their deadline
	FragmentsHeld  int
	SourcesTracked int // sources with a record (rate limit or memory)
	SourcesHolding int // sources holding fragments (the "active sources" of F11)
	MaxDatagrams   int
	MaxSources     int
	PerSourceShare int64 // what a new source may hold right now
	BiggestHolder  source.Key
	BiggestHeld    int64
}

// New returns a Reassembler enforcing p that reports released and dropped
// held fragments to sink. Its tables are sized from p once, here.
func New(p *config.Policy, sink Sink) *Reassembler {
	r := &Reassembler{
		sink:    sink,
		live:    newDList(),
		dead:    newDList(),
		scratch: make([]byte, maxFrameLen+128),
	}
	r.pol = *p
	r.resize()
	return r
}

// SetPolicy installs new knobs. Datagrams already in reassembly keep the
// timeout, minimum size and fragment limit they began with; memory limits,
// rate limits and table bounds apply at once (tables shrink lazily, by
// eviction, as new entries arrive).
func (r *Reassembler) SetPolicy(p *config.Policy) {
	r.pol = *p
	r.resize()
}

func (r *Reassembler) resize() {
	r.maxDG = max(r.pol.MaxDatagrams, 1)
	if n := len(r.dgrams); r.maxDG > n {
		grown := make([]datagram, r.maxDG)
		copy(grown, r.dgrams)
		for i := r.maxDG - 1; i >= n; i-- {
			r.freeDG = append(r.freeDG, int32(i))
		}
		r.dgrams = grown
		if r.index == nil {
			r.index = make(map[datagramKey]int32, r.maxDG)
		}
	}
	r.srcs.resize(max(r.pol.MaxSources, source.MaxKeys))
}

// Stats returns a snapshot of the reassembler's state.
func (r *Reassembler) Stats() Stats {
	s := Stats{
		BytesHeld:      r.held,
		BytesPooled:    r.pool.pooled,
		Budget:         r.pol.FragmentMemory,
		DatagramsHeld:  r.live.n,
		DeadRemembered: r.dead.n,
		FragmentsHeld:  r.liveFrag,
		SourcesTracked: r.srcs.used,
		SourcesHolding: len(r.srcs.holders),
		MaxDatagrams:   r.maxDG,
		MaxSources:     r.srcs.max,
		PerSourceShare: r.share(none),
	}
	if len(r.srcs.holders) > 0 {
		top := &r.srcs.recs[r.srcs.holders[0]]
		s.BiggestHolder, s.BiggestHeld = top.key, top.held
	}
	return s
}

// Submit takes one decoded fragment (f.Fragment set) that arrived on port
// in direction dir. It returns reason.None if the fragment was taken (held,
// or released together with its datagram through the Sink), or the reason
// it was dropped; the caller drops and counts the submitted frame itself,
// while held fragments that die with it go to Sink.Drop. A held fragment's
// bytes are copied. judge is called if this fragment completes its datagram.
// Submitting a frame that is not a fragment (an atomic fragment included,
// F9) is a programming error and panics.
func (r *Reassembler) Submit(port uint8, dir packet.Direction, f *packet.Frame, now time.Time, judge Judge) reason.Reason {
	if !f.Fragment {
		panic("frag: Submit of a frame that is not a fragment")
	}
	t := now.UnixNano()
	r.expire(t)

	// A dead datagram's later fragments share its reason until its
	// deadline, whatever else they break.
	k := keyOf(f)
	di, found := r.index[k]
	var d *datagram
	if found {
		d = &r.dgrams[di]
		if d.dead != reason.None {
			return d.dead
		}
	} else {
		di = none
	}

	// F11 rate limit: a cheap gate before any per-datagram work. A fragment
	// over the limit is dropped alone; its datagram cannot complete and
	// falls to F8 unless the fragment is sent again.
	keys, nkeys := source.Keys(f, dir)
	var srcs [source.MaxKeys]int32
	for i := 0; i < nkeys; i++ {
		srcs[i] = r.sourceFor(keys[i], t, srcs[:i])
		if srcs[i] == none {
			return reason.FragMemory
		}
	}
	if !r.takeTokens(srcs[:nkeys], t) {
		return reason.FragRateLimited
	}
	if found && r.dgrams[di].dead != reason.None {
		// Making room for the source records evicted this datagram.
		return r.dgrams[di].dead
	}

	// Rules one fragment can break, first broken names the reason:
	// F2, F3, F4, F5, F6, F7 (the decoder has applied H).
	if rr := checkF2(f); rr != reason.None {
		return r.reject(di, k, t, rr)
	}
	if rr := checkF3(f); rr != reason.None {
		return r.reject(di, k, t, rr)
	}
	off, end := int32(f.FragOffset), int32(f.FragOffset+f.FragDataLen)
	if f.FragDataOff < 0 || f.FragDataOff+f.FragDataLen > len(f.Data) {
		// The decoder guarantees this; a frame that breaks it cannot be held.
		return reason.FrameTruncated
	}
	pos := 0
	if found {
		var rr reason.Reason
		pos, rr = d.place(f, off, end)
		if rr == reason.FragDuplicate {
			return rr // dropped alone; the datagram goes on
		}
		if rr != reason.None {
			return r.reject(di, k, t, rr)
		}
	}
	if off == 0 && !firstFragmentComplete(f) {
		return r.reject(di, k, t, reason.FragFirstIncomplete)
	}
	minBytes, maxFrags := r.minBytes(f.IPVersion), r.pol.MaxFragments
	if found {
		minBytes, maxFrags = int(d.minBytes), int(d.maxFrags)
	}
	if rr := checkF6(f, minBytes); rr != reason.None {
		return r.reject(di, k, t, rr)
	}
	if found && len(d.frags)+1 > maxFrags || !found && maxFrags < 1 {
		return r.reject(di, k, t, reason.FragTooMany)
	}

	if !found {
		di = r.newDatagram(k, t, srcs[:nkeys], f.IPVersion)
		if di == none {
			return reason.FragMemory
		}
		d = &r.dgrams[di]
	}
	h := fragment{
		off:    off,
		end:    end,
		payOff: int32(f.FragDataOff),
		l3Off:  int32(f.L3Off),
		port:   port,
		last:   !f.MoreFrags,
		class:  -1,
	}
	if f.IPVersion == 4 {
		h.hdrEnd = int32(f.L3Off + f.IPHdrLen)
	} else {
		h.hdrEnd = int32(f.FragHdrOff)
	}
	if d.completes(end-off, end, h.last) {
		// The completing fragment is judged straight from the caller's
		// frame: it is never copied and never counts against memory.
		h.data = f.Data
		d.insert(pos, h)
		return r.finish(di, dir, judge)
	}
	return r.hold(di, pos, h, f.Data)
}

func (r *Reassembler) minBytes(ipVersion uint8) int {
	if ipVersion == 6 {
		return r.pol.MinFragmentBytesV6
	}
	return r.pol.MinFragmentBytesV4
}

// hold copies a fragment into a pooled buffer and adds it to its datagram,
// making room first (F11).
func (r *Reassembler) hold(di int32, pos int, h fragment, frame []byte) reason.Reason {
	c := classFor(len(frame))
	var listCost int64
	if d := &r.dgrams[di]; len(d.frags) == cap(d.frags) {
		listCost = int64(max(d.maxFrags, smallFrags)) * fragEntrySize
	}
	if c < 0 || !r.makeRoom(di, int64(bufferClasses[c])+listCost) {
		// A datagram that cannot hold even its first fragment must not
		// stay: an empty datagram would keep sources that hold nothing.
		if d := &r.dgrams[di]; d.dead == reason.None && len(d.frags) == 0 {
			r.kill(di, reason.FragMemory, true)
		}
		return reason.FragMemory
	}
	cost := int64(bufferClasses[c])
	d := &r.dgrams[di]
	if listCost > 0 {
		grown := make([]fragment, len(d.frags), max(int(d.maxFrags), smallFrags))
		copy(grown, d.frags)
		clear(d.frags)
		d.frags = grown
		d.bigCost += listCost
		cost += listCost
	}
	buf := r.pool.get(c, r.pol.FragmentMemory)
	h.data = buf[:copy(buf, frame)]
	h.class = int8(c)
	d.insert(pos, h)
	r.liveFrag++
	r.charge(di, cost)
	return reason.None
}

// reject kills the datagram a fragment belongs to (or remembers its key as
// dead if it had none yet) under rule rr, and returns rr for the fragment.
func (r *Reassembler) reject(di int32, k datagramKey, t int64, rr reason.Reason) reason.Reason {
	if di != none {
		r.kill(di, rr, true)
		return rr
	}
	// Remembering a dead key may recycle another dead record but never
	// evicts a live datagram: a flood of broken fragments must not push
	// out datagrams that are doing nothing wrong.
	if di = r.allocDatagram(false); di == none {
		return rr
	}
	d := &r.dgrams[di]
	d.key = k
	d.dead = rr
	d.deadline = t + int64(r.pol.FragmentTimeout)
	d.nsrc = 0
	r.index[k] = di
	r.insertByDeadline(&r.dead, di)
	return rr
}

// finish judges a datagram that just became complete (F10) and releases or
// drops its fragments.
func (r *Reassembler) finish(di int32, dir packet.Direction, judge Judge) reason.Reason {
	d := &r.dgrams[di]
	rr := r.judgeWhole(d, dir, judge)
	if rr == reason.None {
		for i := range d.frags {
			h := &d.frags[i]
			r.sink.Release(h.port, h.data)
		}
		r.forget(di)
		return reason.None
	}
	r.kill(di, rr, true)
	return rr
}

// newDatagram starts a reassembly for key k charged to the given sources.
func (r *Reassembler) newDatagram(k datagramKey, t int64, srcs []int32, ipVersion uint8) int32 {
	di := r.allocDatagram(true)
	if di == none {
		return none
	}
	d := &r.dgrams[di]
	d.key = k
	if d.small == nil {
		d.small = make([]fragment, 0, smallFrags)
	}
	d.frags = d.small[:0]
	d.covered, d.total, d.maxEnd, d.held, d.bigCost = 0, -1, 0, 0, 0
	d.dead = reason.None
	d.deadline = t + int64(r.pol.FragmentTimeout)
	d.minBytes = int32(r.minBytes(ipVersion))
	d.maxFrags = int32(r.pol.MaxFragments)
	d.nsrc = int8(len(srcs))
	for i, s := range srcs {
		d.src[i] = s
		r.srcs.appendDatagram(r.dgrams, s, di)
	}
	r.index[k] = di
	r.insertByDeadline(&r.live, di)
	return di
}

// allocDatagram takes a free record. At MaxDatagrams it first forgets the
// oldest dead datagram (they hold no memory), else, if evictLive, evicts
// the oldest datagram of the biggest holder (F11).
func (r *Reassembler) allocDatagram(evictLive bool) int32 {
	for r.usedDG >= r.maxDG || len(r.freeDG) == 0 {
		switch {
		case r.dead.head != none:
			r.forget(r.dead.head)
		case evictLive && len(r.srcs.holders) > 0:
			r.kill(r.srcs.recs[r.srcs.holders[0]].head, reason.FragMemory, false)
		default:
			return none
		}
	}
	n := len(r.freeDG)
	di := r.freeDG[n-1]
	r.freeDG = r.freeDG[:n-1]
	r.usedDG++
	return di
}

// kill drops every held fragment of a live datagram under rr. If remember
// is set the datagram stays dead until its deadline, so later fragments with
// its key are dropped under the same reason; otherwise it is forgotten.
func (r *Reassembler) kill(di int32, rr reason.Reason, remember bool) {
	d := &r.dgrams[di]
	for i := range d.frags {
		h := &d.frags[i]
		if h.class < 0 {
			continue // the submitted fragment: the caller drops it
		}
		decodeFrame(&r.view, h.data, &r.pol)
		r.sink.Drop(h.port, h.data, rr, &r.view)
	}
	if !remember {
		r.forget(di)
		return
	}
	r.releaseFragments(di)
	r.unlinkSources(di)
	r.live.remove(r.dgrams, di)
	d.dead = rr
	r.insertByDeadline(&r.dead, di)
}

// forget removes a datagram, live or dead, and frees its record.
func (r *Reassembler) forget(di int32) {
	d := &r.dgrams[di]
	if d.dead == reason.None {
		r.releaseFragments(di)
		r.unlinkSources(di)
		r.live.remove(r.dgrams, di)
	} else {
		r.dead.remove(r.dgrams, di)
	}
	delete(r.index, d.key)
	d.dead = reason.None
	d.nsrc = 0
	r.freeDG = append(r.freeDG, di)
	r.usedDG--
}

// releaseFragments returns a datagram's buffers to the pool and its bytes
// to the budget.
func (r *Reassembler) releaseFragments(di int32) {
	d := &r.dgrams[di]
	for i := range d.frags {
		h := &d.frags[i]
		if h.class >= 0 {
			r.pool.put(int(h.class), h.data)
			r.liveFrag--
		}
		h.data = nil
	}
	// A list that outgrew the record's own goes back to the collector.
	d.frags = d.small[:0]
	d.bigCost = 0
	if d.held > 0 {
		r.uncharge(di, d.held)
	}
}

// Reject reports a fragment the decoder dropped for a header rule, so that
// its datagram follows POLICY.md: a fragment breaking H2, H3 or H4 kills its
// datagram (held fragments are dropped under the same reason, and later
// fragments with the key share it until the deadline). A fragment failing
// H1 (or an L rule) is dropped alone because its key cannot be trusted; for
// those, and for frames that are not fragments, Reject does nothing. The
// caller still drops and counts f itself.
func (r *Reassembler) Reject(f *packet.Frame, why reason.Reason, now time.Time) {
	if !f.Fragment {
		return
	}
	switch why.Rule() {
	case "H2", "H3", "H4":
	default:
		return
	}
	t := now.UnixNano()
	r.expire(t)
	k := keyOf(f)
	di, found := r.index[k]
	if !found {
		di = none
	} else if r.dgrams[di].dead != reason.None {
		return
	}
	r.reject(di, k, t, why)
}
