package filter

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/rackwall/rackwall/dataplane/packet"
)

// connKey names a connection the same way from both directions: the two
// endpoints are stored in a fixed order (lower address/port first), and the
// entry remembers which of them opened the connection.
type connKey struct {
	a, b   [16]byte // addresses, IPv4 as IPv4-mapped
	pa, pb uint16   // ports; for ICMP echo both hold the echo identifier
	vlan   uint16
	proto  uint8
}

// makeKey builds the key for a packet from src:sp to dst:dp; srcIsA tells
// whether the sender ended up as endpoint a.
func makeKey(src, dst netip.Addr, sp, dp uint16, proto uint8, vlan uint16) (k connKey, srcIsA bool) {
	s, d := src.As16(), dst.As16()
	c := compare16(&s, &d)
	srcIsA = c < 0 || c == 0 && sp <= dp
	if srcIsA {
		k.a, k.b, k.pa, k.pb = s, d, sp, dp
	} else {
		k.a, k.b, k.pa, k.pb = d, s, dp, sp
	}
	k.vlan, k.proto = vlan, proto
	return k, srcIsA
}

func compare16(x, y *[16]byte) int {
	xh, yh := binary.BigEndian.Uint64(x[:8]), binary.BigEndian.Uint64(y[:8])
	if xh != yh {
		if xh < yh {
			return -1
		}
		return 1
	}
	xl, yl := binary.BigEndian.Uint64(x[8:]), binary.BigEndian.Uint64(y[8:])
	switch {
	case xl < yl:
		return -1
	case xl > yl:
		return 1
	}
	return 0
}

// conn is one tracked connection (or pseudo-connection).
type conn struct {
	key          connKey
	hash         uint32
	origIsA      bool             // the originator is endpoint a
	origDir      packet.Direction // which way the first packet crossed
	state        State
	origICMPType uint8 // the echo request type, to re-check ICMP against new rules
	scaleOK      bool  // both SYNs carried a window scale option
	lastSeen     int64 // unix nanoseconds of the last accepted packet
	gen          uint64
	prev, next   int32 // neighbours in its state's idle list (or the free list)
	peer         [2]tcpPeer
}

// fromOrig reports whether a packet whose sender is endpoint a (srcIsA)
// comes from the originator.
func (c *conn) fromOrig(srcIsA bool) bool { return srcIsA == c.origIsA }

// origTuple returns the originator's and responder's address and port.
func (c *conn) origTuple() (src, dst netip.Addr, sp, dp uint16) {
	a, b := netip.AddrFrom16(c.key.a).Unmap(), netip.AddrFrom16(c.key.b).Unmap()
	if c.origIsA {
		return a, b, c.key.pa, c.key.pb
	}
	return b, a, c.key.pb, c.key.pa
}

// connTable is a fixed-size connection table: entries live in one
// preallocated array, found through an open-addressing index. Each state
// keeps its entries on a list ordered by last activity, so expiry looks only
// at list heads and eviction finds the oldest idle entry at once. Nothing is
// allocated after construction.
type connTable struct {
	seed    uint64
	index   slotIndex
	entries []conn
	free    int32 // head of the free list, -1 when full
	head    [NumStates]int32
	tail    [NumStates]int32
	used    int

	// Read by Stats from other goroutines.
	count     [NumStates]atomic.Int64
	evictions atomic.Uint64
	expired   atomic.Uint64
}

func newConnTable(size int, seed uint64) *connTable {
	if size < 1 {
		size = 1
	}
	t := &connTable{seed: seed, index: newSlotIndex(size), entries: make([]conn, size)}
	for i := range t.entries {
		t.entries[i].next = int32(i + 1)
	}
	t.entries[size-1].next = -1
	for s := range t.head {
		t.head[s], t.tail[s] = -1, -1
	}
	return t
}

// lookup finds k, whose hash (hashKey with the table's seed) is h.
func (t *connTable) lookup(k *connKey, h uint32) int32 {
	pos := uint64(h) & t.index.mask
	for {
		s := t.index.slots[pos]
		if s == 0 {
			return -1
		}
		if uint32(s>>32) == h {
			i := int32(uint32(s)) - 1
			if t.entries[i].key == *k {
				return i
			}
		}
		pos = (pos + 1) & t.index.mask
	}
}

// insert takes a free entry for k (the caller made room first).
func (t *connTable) insert(k *connKey, h uint32, st State, now int64) int32 {
	i := t.free
	e := &t.entries[i]
	t.free = e.next
	*e = conn{key: *k, hash: h, state: st, lastSeen: now}
	t.index.insert(h, i)
	t.linkTail(i)
	t.count[st].Add(1)
	t.used++
	return i
}

func (t *connTable) remove(i int32) {
	e := &t.entries[i]
	t.unlink(i)
	t.index.remove(e.hash, i)
	t.count[e.state].Add(-1)
	e.state = stateFree
	e.next = t.free
	t.free = i
	t.used--
}

// touch records activity (and maybe a new state): the entry moves to the
// tail of its state's list.
func (t *connTable) touch(i int32, st State, now int64) {
	e := &t.entries[i]
	t.unlink(i)
	if st != e.state {
		t.count[e.state].Add(-1)
		t.count[st].Add(1)
		e.state = st
	}
	e.lastSeen = now
	t.linkTail(i)
}

func (t *connTable) linkTail(i int32) {
	e := &t.entries[i]
	s := e.state
	e.prev, e.next = t.tail[s], -1
	if t.tail[s] >= 0 {
		t.entries[t.tail[s]].next = i
	} else {
		t.head[s] = i
	}
	t.tail[s] = i
}

func (t *connTable) unlink(i int32) {
	e := &t.entries[i]
	s := e.state
	if e.prev >= 0 {
		t.entries[e.prev].next = e.next
	} else {
		t.head[s] = e.next
	}
	if e.next >= 0 {
		t.entries[e.next].prev = e.prev
	} else {
		t.tail[s] = e.prev
	}
}

// expire removes every entry idle longer than its state's timeout.
func (t *connTable) expire(now int64) {
	for s := TCPSynSent; s < NumStates; s++ {
		limit := now - int64(timeouts[s])
		for t.head[s] >= 0 && t.entries[t.head[s]].lastSeen <= limit {
			t.remove(t.head[s])
			t.expired.Add(1)
		}
	}
}

// makeRoom frees an entry when the table is full, evicting the oldest idle
// entry that is not established, or failing that an established one idle
// for at least minIdleToEvictEstablished. It reports false when nothing may
// go.
func (t *connTable) makeRoom(now int64) bool {
	if t.free >= 0 {
		return true
	}
	t.expire(now)
	if t.free >= 0 {
		return true
	}
	victim := int32(-1)
	for _, est := range [2]bool{false, true} {
		for s := TCPSynSent; s < NumStates; s++ {
			h := t.head[s]
			if s.established() != est || h < 0 {
				continue
			}
			if victim < 0 || t.entries[h].lastSeen < t.entries[victim].lastSeen {
				victim = h
			}
		}
		if victim >= 0 {
			break
		}
	}
	if victim < 0 || t.entries[victim].state.established() && now-t.entries[victim].lastSeen < int64(minIdleToEvictEstablished) {
		return false
	}
	t.remove(victim)
	t.evictions.Add(1)
	return true
}
