package filter

import (
	"encoding/binary"
	"net/netip"

	"github.com/rackwall/rackwall/dataplane/source"
)

// rateTable holds one token bucket of new-connection credit per source
// (POLICY.md F12: IPv4 address, IPv6 /64, rack-side MAC). It has a fixed
// number of buckets; when all are in use the oldest-created one is reused.
// Losing a bucket only hands that source a fresh burst, and a bucket left
// alone for burst/rate seconds is full anyway, so little is lost.
type rateTable struct {
	seed   uint64
	rate   float64 // tokens per nanosecond
	burst  float64
	index  slotIndex
	keys   []source.Key
	hashes []uint32
	tokens []float64
	last   []int64
	used   int
	cursor int // next bucket to reuse once all are taken
}

func newRateTable(perSecond, burst, sources int, seed uint64) *rateTable {
	if perSecond <= 0 {
		return nil // no limit
	}
	if burst <= 0 {
		burst = perSecond
	}
	sources = max(sources, 16)
	return &rateTable{
		seed: seed, rate: float64(perSecond) / 1e9, burst: float64(burst),
		index: newSlotIndex(sources),
		keys:  make([]source.Key, sources), hashes: make([]uint32, sources),
		tokens: make([]float64, sources), last: make([]int64, sources),
	}
}

// hashAddrSource and hashMACSource hash the bytes a source.Key holds,
// computed from the frame because the key keeps them private.
func (r *rateTable) hashAddrSource(a netip.Addr) uint32 {
	a = a.Unmap()
	var h uint64
	if a.Is4() {
		b := a.As4()
		h = mix(r.seed, uint64(binary.BigEndian.Uint32(b[:]))|1<<40)
	} else {
		b := a.As16()
		h = mix(r.seed, binary.BigEndian.Uint64(b[:8]))
		h = mix(h, 2)
	}
	return uint32(h ^ h>>32)
}

func (r *rateTable) hashMACSource(m [6]byte) uint32 {
	h := mix(r.seed, uint64(m[0])|uint64(m[1])<<8|uint64(m[2])<<16|uint64(m[3])<<24|uint64(m[4])<<32|uint64(m[5])<<40)
	h = mix(h, 3)
	return uint32(h ^ h>>32)
}

// bucket returns the bucket of key k (hash h), creating a full one.
func (r *rateTable) bucket(k source.Key, h uint32, now int64) int {
	pos := uint64(h) & r.index.mask
	for {
		s := r.index.slots[pos]
		if s == 0 {
			break
		}
		if uint32(s>>32) == h {
			if i := int(uint32(s)) - 1; r.keys[i] == k {
				return i
			}
		}
		pos = (pos + 1) & r.index.mask
	}
	var i int
	if r.used < len(r.keys) {
		i = r.used
		r.used++
	} else {
		i = r.cursor
		r.cursor = (r.cursor + 1) % len(r.keys)
		r.index.remove(r.hashes[i], int32(i))
	}
	r.keys[i], r.hashes[i], r.tokens[i], r.last[i] = k, h, r.burst, now
	r.index.insert(h, int32(i))
	return i
}

// refill brings bucket i up to date and reports whether it holds a token.
func (r *rateTable) refill(i int, now int64) bool {
	if d := now - r.last[i]; d > 0 {
		r.tokens[i] = min(r.burst, r.tokens[i]+float64(d)*r.rate)
		r.last[i] = now
	}
	return r.tokens[i] >= 1
}
