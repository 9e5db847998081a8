package filter

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Filter is the stateful filter: compiled rules plus the connection table.
//
// Every method is safe for concurrent use, so any number of packet loops
// may judge at once. The connection table is split into shards by the
// hash of the connection key, which names a connection the same way from
// both directions: both directions of a flow meet in one shard, whichever
// loop sees them, and loops working on different flows rarely wait for
// each other. The new-connection rate limits, shared by every flow of a
// source, have a lock of their own.
type Filter struct {
	compiled atomic.Pointer[compiled]
	loadMu   sync.Mutex // orders concurrent Loads
	gen      uint64     // guarded by loadMu

	seed   uint64
	shards []shard

	rateMu sync.Mutex
	rate   *rateTable // nil: no new-connection rate limit; guarded by rateMu

	rateLimited atomic.Uint64
	tableFull   atomic.Uint64
	logged      atomic.Uint64
}

// Verdict is the filter's full answer for one packet.
type Verdict struct {
	Reason reason.Reason // reason.None: pass
	// Rule is the index (in Rules().Rules) of the rule that decided, or -1
	// when none did: a tracked connection, a related ICMP error, or the
	// default policy.
	Rule int32
	// Log is set when the deciding rule says log.
	Log bool
	// Tracked is set when the packet belongs to a tracked connection (or is
	// an ICMP error about one).
	Tracked bool
}

// shard is one part of the connection table with its lock. It is padded
// so two shards' locks never share a cache line.
type shard struct {
	mu sync.Mutex
	ct *connTable
	_  [48]byte
}

// New returns a filter with an empty rule set (default pass) and a
// connection table of p.MaxConnections entries in one shard, allocated now.
func New(p *config.Policy) *Filter { return NewSharded(p, 1) }

// NewSharded is New with the connection table split into shards for
// concurrent packet loops. Each shard holds an equal part of
// p.MaxConnections and is full (FW3) when its part is: the table as a
// whole may refuse a connection with room left in other shards.
//
// A connection's shard is its flow hash (FlowHash) modulo shards, the
// hash by which the ports' fanout hands frames to workers. With shards a
// multiple of the number of workers, every shard is used by one worker
// alone while the fanout keeps flows on their workers, so shards do not
// travel between CPU caches; a flow that reaches another worker (a
// reassembled datagram, say) still finds its one shard, under its lock.
// Within a shard, entries are found by a hash with a random seed, so the
// unseeded shard choice gives nobody collisions to aim at.
func NewSharded(p *config.Policy, shards int) *Filter {
	n := max(shards, 1)
	seed := rand.Uint64()
	f := &Filter{
		seed:   seed,
		shards: make([]shard, n),
		rate:   newRateTable(p.ConnRate, p.ConnBurst, p.MaxSources, seed^0x9e3779b97f4a7c15),
	}
	per := (p.MaxConnections + n - 1) / n
	for i := range f.shards {
		f.shards[i].ct = newConnTable(per, seed)
	}
	f.Load(nil)
	return f
}

// lockShard returns k's shard, locked, and k's hash in the shard's index.
func (f *Filter) lockShard(k *connKey) (*shard, uint32) {
	sh := &f.shards[0]
	if len(f.shards) > 1 {
		sh = &f.shards[flowHash(k)%uint32(len(f.shards))]
	}
	sh.mu.Lock()
	return sh, hashKey(f.seed, k)
}

// flowHash is FlowHash of a connection key: its addresses (IPv4-mapped,
// whose constant words cancel out) and ports XOR-ed word by word. An ICMP
// echo's identifier is both its ports and cancels out too, as it is not
// part of the fanout's hash.
func flowHash(k *connKey) uint32 {
	var h uint32
	for i := 0; i < 16; i += 4 {
		h ^= binary.BigEndian.Uint32(k.a[i:]) ^ binary.BigEndian.Uint32(k.b[i:])
	}
	return FoldFlowHash(h ^ uint32(k.pa^k.pb))
}

// FoldFlowHash finishes a flow hash: source XOR destination address, as
// 32-bit words, XOR source XOR destination port for TCP and UDP, folded
// so every bit reaches the low ones. The fanout program of package
// afpacket computes the same, in the kernel, to pick a worker's queue.
func FoldFlowHash(h uint32) uint32 {
	h ^= h >> 16
	h ^= h >> 8
	return h
}

// Load compiles rs and makes it the rule set of every following packet. A
// nil rs is the empty rule set. The filter keeps rs (Rules returns it), so
// do not change it afterwards. Tracked connections are checked against the
// new rules on their next packet: their first packet, replayed against the
// new rules, must still pass, or the connection is removed and the packet
// dropped as FilterBlocked.
func (f *Filter) Load(rs *rules.RuleSet) {
	f.loadMu.Lock()
	defer f.loadMu.Unlock()
	f.gen++
	f.compiled.Store(compile(rs, f.gen))
}

// Rules returns the rule set in force. Treat it as read-only.
func (f *Filter) Rules() *rules.RuleSet { return f.compiled.Load().rs }

// Decide judges one decoded IP packet crossing the bridge in direction dir
// and returns reason.None to pass it or the reason to drop it:
// FilterBlocked, ConnInvalid, ConnTableFull or ConnRateLimited.
func (f *Filter) Decide(fr *packet.Frame, dir packet.Direction, now time.Time) reason.Reason {
	return f.Judge(fr, dir, now).Reason
}

// Judge is Decide with the details: which rule decided and whether it logs.
func (f *Filter) Judge(fr *packet.Frame, dir packet.Direction, now time.Time) Verdict {
	if fr.IPVersion != 4 && fr.IPVersion != 6 {
		return Verdict{Rule: -1}
	}
	c := f.compiled.Load()
	ns := now.UnixNano()
	v6 := fr.IPVersion == 6
	vlan := innermostVLAN(fr)
	src, dst := fr.Src.Unmap(), fr.Dst.Unmap()
	q := query{fam: familyOf(src), dir: int(dir & 1), proto: fr.Proto, src: addrU128(src), dst: addrU128(dst), vlan: vlan}
	hasL4 := fr.L4Off > 0

	switch {
	case fr.Proto == rules.ProtoTCP && hasL4:
		q.hasPorts, q.sport, q.dport = true, fr.SrcPort, fr.DstPort
		seg := readSegment(fr)
		k, srcIsA := makeKey(src, dst, fr.SrcPort, fr.DstPort, fr.Proto, vlan)
		sh, h := f.lockShard(&k)
		defer sh.mu.Unlock()
		i := sh.ct.lookup(&k, h)
		if i >= 0 {
			v, restart := f.trackedTCP(c, sh.ct, i, srcIsA, dir, &seg, ns)
			if !restart {
				return v
			}
			sh.ct.remove(i) // port reuse after close: judge the SYN afresh
		}
		return f.newConn(c, sh.ct, &q, &k, h, srcIsA, dir, fr, ns, &seg)

	case fr.Proto == rules.ProtoUDP && hasL4:
		q.hasPorts, q.sport, q.dport = true, fr.SrcPort, fr.DstPort
		k, srcIsA := makeKey(src, dst, fr.SrcPort, fr.DstPort, fr.Proto, vlan)
		return f.trackOrOpen(c, &q, &k, srcIsA, dir, fr, ns)

	case (fr.Proto == rules.ProtoICMP && !v6 || fr.Proto == rules.ProtoICMPv6 && v6) && hasL4:
		q.isICMP, q.icmpType = true, fr.ICMPType
		if isICMPError(v6, fr.ICMPType) {
			if v, ok := f.related(c, fr, dir, vlan, ns); ok {
				return v
			}
			return f.stateless(c, &q)
		}
		req, rep := echoTypes(v6)
		if fr.ICMPType != req && fr.ICMPType != rep {
			return f.stateless(c, &q) // neighbour discovery, router adverts, ...
		}
		k, srcIsA := makeKey(src, dst, fr.ICMPID, fr.ICMPID, fr.Proto, vlan)
		sh, h := f.lockShard(&k)
		defer sh.mu.Unlock()
		i := sh.ct.lookup(&k, h)
		switch {
		case i >= 0:
			return f.trackedGeneric(c, sh.ct, i, srcIsA, dir, ns)
		case fr.ICMPType == req:
			return f.newConn(c, sh.ct, &q, &k, h, srcIsA, dir, fr, ns, nil)
		}
		return f.stateless(c, &q) // an echo reply nobody asked for: rules decide

	case fr.Proto != rules.ProtoTCP && fr.Proto != rules.ProtoUDP && fr.Proto != rules.ProtoICMP && fr.Proto != rules.ProtoICMPv6:
		// Other protocols (GRE, ESP, SCTP, ...) are tracked by address pair.
		k, srcIsA := makeKey(src, dst, 0, 0, fr.Proto, vlan)
		return f.trackOrOpen(c, &q, &k, srcIsA, dir, fr, ns)
	}
	// TCP, UDP or ICMP without its transport header (a later fragment, or
	// ICMP of the other family): only rules without ports can judge it, and
	// it starts nothing.
	return f.stateless(c, &q)
}

func innermostVLAN(fr *packet.Frame) uint16 {
	n := min(fr.NumVLAN, packet.MaxVLANTags)
	if n <= 0 {
		return 0
	}
	return fr.VLANTCI[n-1] & 0x0fff
}

// trackOrOpen follows a UDP or other pseudo-connection, or opens one.
func (f *Filter) trackOrOpen(c *compiled, q *query, k *connKey, srcIsA bool, dir packet.Direction, fr *packet.Frame, ns int64) Verdict {
	sh, h := f.lockShard(k)
	defer sh.mu.Unlock()
	i := sh.ct.lookup(k, h)
	if i >= 0 {
		return f.trackedGeneric(c, sh.ct, i, srcIsA, dir, ns)
	}
	return f.newConn(c, sh.ct, q, k, h, srcIsA, dir, fr, ns, nil)
}

// stateless judges a packet by the rules alone, creating no state (FW1).
func (f *Filter) stateless(c *compiled, q *query) Verdict {
	act, rule, log := c.decide(q)
	v := Verdict{Rule: rule}
	if log {
		v.Log = true
		f.logged.Add(1)
	}
	if act == rules.Block {
		v.Reason = reason.FilterBlocked
	}
	return v
}

// newConn judges the first packet of a connection and tracks it if it
// passes. The caller holds the lock of t, k's shard.
func (f *Filter) newConn(c *compiled, t *connTable, q *query, k *connKey, h uint32, srcIsA bool, dir packet.Direction, fr *packet.Frame, ns int64, seg *tcpSegment) Verdict {
	v := f.stateless(c, q)
	if v.Reason != reason.None {
		return v
	}
	if seg != nil && !isPureSYN(seg.flags) {
		// FW2. Mid-stream TCP with no connection: a pass rule only opens
		// connections with a SYN. Under the default pass policy the box is
		// a wire for what no rule mentions, so connections older than the
		// box (or its last restart) keep working.
		if v.Rule >= 0 {
			v.Reason = reason.ConnInvalid
		}
		return v
	}
	// FW3: the source's rate of new connections, then room in the table.
	if !f.allowNewConn(fr, dir, ns) {
		f.rateLimited.Add(1)
		v.Reason = reason.ConnRateLimited
		return v
	}
	if !t.makeRoom(ns) {
		f.tableFull.Add(1)
		v.Reason = reason.ConnTableFull
		return v
	}
	st := Single
	switch {
	case seg != nil:
		st = TCPSynSent
	case q.isICMP:
		st = ICMPEcho
	}
	i := t.insert(k, h, st, ns)
	e := &t.entries[i]
	e.origIsA, e.origDir, e.gen, e.origICMPType = srcIsA, dir, c.gen, q.icmpType
	if seg != nil {
		startTCP(e, seg)
	}
	return v
}

// directionOK: a connection's originator always sends in its original
// direction and the responder in the other, so a packet claiming to come
// from one side while arriving on the other port is forged.
func directionOK(e *conn, fromOrig bool, dir packet.Direction) bool {
	return (dir == e.origDir) == fromOrig
}

// stillAllowed re-checks a connection made under older rules: its first
// packet must still pass. It reports false (and the caller drops the
// connection) otherwise.
func (f *Filter) stillAllowed(c *compiled, e *conn) bool {
	if e.gen == c.gen {
		return true
	}
	src, dst, sp, dp := e.origTuple()
	q := query{fam: familyOf(src), dir: int(e.origDir & 1), proto: e.key.proto, src: addrU128(src), dst: addrU128(dst), vlan: e.key.vlan}
	switch e.key.proto {
	case rules.ProtoTCP, rules.ProtoUDP:
		q.hasPorts, q.sport, q.dport = true, sp, dp
	case rules.ProtoICMP, rules.ProtoICMPv6:
		if e.state == ICMPEcho {
			q.isICMP, q.icmpType = true, e.origICMPType
		}
	}
	if act, _, _ := c.decide(&q); act != rules.Pass {
		return false
	}
	e.gen = c.gen
	return true
}

// trackedTCP judges a segment of a tracked TCP connection: it must come
// from the side it claims and fit the state machine and windows (FW2), and
// the connection must still be allowed by the current rules (FW1).
func (f *Filter) trackedTCP(c *compiled, t *connTable, i int32, srcIsA bool, dir packet.Direction, seg *tcpSegment, ns int64) (Verdict, bool) {
	e := &t.entries[i]
	fromOrig := e.fromOrig(srcIsA)
	if !directionOK(e, fromOrig, dir) {
		return Verdict{Reason: reason.ConnInvalid, Rule: -1}, false
	}
	verdict, st := trackTCP(e, fromOrig, seg)
	switch verdict {
	case tcpRestart:
		return Verdict{}, true
	case tcpInvalid:
		return Verdict{Reason: reason.ConnInvalid, Rule: -1}, false
	}
	if !f.stillAllowed(c, e) {
		t.remove(i)
		return Verdict{Reason: reason.FilterBlocked, Rule: -1}, false
	}
	t.touch(i, st, ns)
	return Verdict{Rule: -1, Tracked: true}, false
}

// trackedGeneric is trackedTCP for UDP, ICMP echo and other protocols:
// the right side (FW2) and still allowed (FW1).
func (f *Filter) trackedGeneric(c *compiled, t *connTable, i int32, srcIsA bool, dir packet.Direction, ns int64) Verdict {
	e := &t.entries[i]
	fromOrig := e.fromOrig(srcIsA)
	if !directionOK(e, fromOrig, dir) {
		return Verdict{Reason: reason.ConnInvalid, Rule: -1}
	}
	if !f.stillAllowed(c, e) {
		t.remove(i)
		return Verdict{Reason: reason.FilterBlocked, Rule: -1}
	}
	st := e.state
	if !fromOrig && st == Single {
		st = Multiple
	}
	t.touch(i, st, ns)
	return Verdict{Rule: -1, Tracked: true}
}

// related handles an ICMP error: if the packet it quotes belongs to a
// tracked connection, the error is judged by that connection (ok true).
// Errors about nothing tracked go to the rules like any ICMP (ok false).
func (f *Filter) related(c *compiled, fr *packet.Frame, dir packet.Direction, vlan uint16, ns int64) (Verdict, bool) {
	qt, ok := parseQuoted(fr)
	if !ok || qt.src != fr.Dst.Unmap() {
		return Verdict{}, false // an error goes back to the quoted packet's sender
	}
	switch qt.proto {
	case rules.ProtoTCP, rules.ProtoUDP, rules.ProtoICMP, rules.ProtoICMPv6:
	default:
		qt.sp, qt.dp = 0, 0
	}
	k, srcIsA := makeKey(qt.src, qt.dst, qt.sp, qt.dp, qt.proto, vlan)
	sh, h := f.lockShard(&k)
	defer sh.mu.Unlock()
	i := sh.ct.lookup(&k, h)
	if i < 0 {
		return Verdict{}, false
	}
	e := &sh.ct.entries[i]
	fromOrig := e.fromOrig(srcIsA)
	// The quoted packet travelled one way; the error about it comes back
	// the other way.
	if directionOK(e, fromOrig, dir) {
		return Verdict{Reason: reason.ConnInvalid, Rule: -1}, true
	}
	if qt.proto == rules.ProtoTCP {
		sender, receiver := &e.peer[0], &e.peer[1]
		if !fromOrig {
			sender, receiver = receiver, sender
		}
		if seqLT(sender.seqHi, qt.seq) || seqLT(qt.seq, sender.seqHi-max(receiver.maxWin, 1)-1) {
			return Verdict{Reason: reason.ConnInvalid, Rule: -1}, true
		}
	}
	if !f.stillAllowed(c, e) {
		sh.ct.remove(i)
		return Verdict{Reason: reason.FilterBlocked, Rule: -1}, true
	}
	return Verdict{Rule: -1, Tracked: true}, true
}

// allowNewConn spends one new-connection token of each source the frame is
// charged to (POLICY.md F12), if every one of them has a token.
func (f *Filter) allowNewConn(fr *packet.Frame, dir packet.Direction, ns int64) bool {
	r := f.rate
	if r == nil {
		return true
	}
	f.rateMu.Lock()
	defer f.rateMu.Unlock()
	keys, n := source.Keys(fr, dir)
	var idx [source.MaxKeys]int
	for j := 0; j < n; j++ {
		var h uint32
		if keys[j].Kind == source.KindMAC {
			h = r.hashMACSource(fr.SrcMAC)
		} else {
			h = r.hashAddrSource(fr.Src)
		}
		idx[j] = r.bucket(keys[j], h, ns)
		if !r.refill(idx[j], ns) {
			return false
		}
	}
	for j := 0; j < n; j++ {
		r.tokens[idx[j]]--
	}
	return true
}

// Expire removes connections idle past their state's timeout. Call it now
// and then (once a second is plenty); it locks one shard at a time.
func (f *Filter) Expire(now time.Time) {
	ns := now.UnixNano()
	for i := range f.shards {
		sh := &f.shards[i]
		sh.mu.Lock()
		sh.ct.expire(ns)
		sh.mu.Unlock()
	}
}

// Stats is a snapshot of the filter's counters.
type Stats struct {
	Connections int
	Capacity    int
	ByState     [NumStates]int // index with a State
	Evictions   uint64         // connections pushed out to make room
	Expired     uint64         // connections removed by timeout
	TableFull   uint64         // new connections refused: nothing evictable
	RateLimited uint64         // new connections refused: source over its rate
	Logged      uint64         // packets decided by a rule that says log
	Generation  uint64         // how many rule sets have been loaded
}

// Stats returns the current counters; safe from any goroutine.
func (f *Filter) Stats() Stats {
	s := Stats{
		TableFull:   f.tableFull.Load(),
		RateLimited: f.rateLimited.Load(),
		Logged:      f.logged.Load(),
		Generation:  f.compiled.Load().gen,
	}
	for i := range f.shards {
		ct := f.shards[i].ct
		s.Capacity += len(ct.entries)
		s.Evictions += ct.evictions.Load()
		s.Expired += ct.expired.Load()
		for st := TCPSynSent; st < NumStates; st++ {
			n := int(ct.count[st].Load())
			s.ByState[st] += n
			s.Connections += n
		}
	}
	return s
}
