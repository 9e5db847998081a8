package filter

import "encoding/binary"

// mix folds one word into a running hash (a murmur3-style finalizer step).
// The seed is random per Filter so nobody outside can aim collisions at the
// tables.
func mix(h, w uint64) uint64 {
	h ^= w
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 29
	return h
}

func hashKey(seed uint64, k *connKey) uint32 {
	h := mix(seed, binary.LittleEndian.Uint64(k.a[:8]))
	h = mix(h, binary.LittleEndian.Uint64(k.a[8:]))
	h = mix(h, binary.LittleEndian.Uint64(k.b[:8]))
	h = mix(h, binary.LittleEndian.Uint64(k.b[8:]))
	h = mix(h, uint64(k.pa)|uint64(k.pb)<<16|uint64(k.vlan)<<32|uint64(k.proto)<<48)
	return uint32(h ^ h>>32)
}

// slotIndex is an open-addressing hash index with linear probing. A slot
// holds the entry's 32-bit hash and its index + 1 (0 marks an empty slot),
// so most probes never touch the entries. Deletion shifts later entries back
// instead of leaving tombstones, so probe chains never rot.
type slotIndex struct {
	slots []uint64
	mask  uint64
}

func newSlotIndex(entries int) slotIndex {
	n := 16
	for n < 2*entries {
		n <<= 1
	}
	return slotIndex{slots: make([]uint64, n), mask: uint64(n - 1)}
}

func (x *slotIndex) insert(hash uint32, idx int32) {
	pos := uint64(hash) & x.mask
	for x.slots[pos] != 0 {
		pos = (pos + 1) & x.mask
	}
	x.slots[pos] = uint64(hash)<<32 | uint64(uint32(idx)+1)
}

// remove deletes the slot holding idx (which must be present).
func (x *slotIndex) remove(hash uint32, idx int32) {
	want := uint64(hash)<<32 | uint64(uint32(idx)+1)
	pos := uint64(hash) & x.mask
	for x.slots[pos] != want {
		pos = (pos + 1) & x.mask
	}
	for {
		j := pos
		for {
			j = (j + 1) & x.mask
			s := x.slots[j]
			if s == 0 {
				x.slots[pos] = 0
				return
			}
			home := (s >> 32) & x.mask
			if (j-home)&x.mask >= (j-pos)&x.mask {
				x.slots[pos] = s
				pos = j
				break
			}
		}
	}
}
