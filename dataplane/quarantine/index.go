package quarantine

import (
	"hash/maphash"

	"github.com/rackwall/rackwall/dataplane/source"
)

// index maps a source key to its slot. It is an open-addressing hash table
// with linear probing and backward-shift deletion, sized once for the most
// sources the table may hold, so that inserting and deleting at a full table
// (a flood of new sources evicting old ones) never allocates or rehashes, as
// a built-in map occasionally does.
type index struct {
	seed  maphash.Seed
	cells []int32 // slot+1; 0 is empty
	mask  uint64
}

func newIndex(maxEntries int) index {
	size := 16
	for size < 2*maxEntries { // at most half full keeps probes short
		size <<= 1
	}
	return index{seed: maphash.MakeSeed(), cells: make([]int32, size), mask: uint64(size - 1)}
}

func (x *index) hash(k source.Key) uint64 { return maphash.Comparable(x.seed, k) }

// find returns the slot of k, or -1.
func (x *index) find(slots []slot, k source.Key, h uint64) int32 {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		c := x.cells[i]
		if c == 0 {
			return -1
		}
		if slots[c-1].key == k {
			return c - 1
		}
	}
}

// insert records that k (hash h, not present) lives in slot s.
func (x *index) insert(h uint64, s int32) {
	i := h & x.mask
	for x.cells[i] != 0 {
		i = (i + 1) & x.mask
	}
	x.cells[i] = s + 1
}

// remove deletes the cell pointing at slot s, whose key hashes to h, and
// shifts later cells of the probe run back so lookups never need tombstones.
func (x *index) remove(slots []slot, h uint64, s int32) {
	i := h & x.mask
	for x.cells[i] != s+1 {
		i = (i + 1) & x.mask
	}
	for j := i; ; {
		x.cells[i] = 0
		for {
			j = (j + 1) & x.mask
			c := x.cells[j]
			if c == 0 {
				return
			}
			home := slots[c-1].hash & x.mask
			// The entry at j may move to the hole at i only if its home
			// is not cyclically within (i, j].
			if i <= j {
				if i < home && home <= j {
					continue
				}
			} else if i < home || home <= j {
				continue
			}
			x.cells[i] = c
			i = j
			break
		}
	}
}
