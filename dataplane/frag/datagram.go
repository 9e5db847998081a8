package frag

import (
	"bytes"
	"unsafe"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// none marks an empty link in the index-linked lists below. Records live in
// slabs and link by index, so lists cost no allocation and no pointers for
// the garbage collector to chase.
const none = -1

// fragment is one held original fragment.
type fragment struct {
	data   []byte // the original frame: a pooled buffer, or the submitted frame while it completes its datagram
	off    int32  // first payload byte within the fragmentable part
	end    int32  // one past its last payload byte
	payOff int32  // where the payload starts in data
	l3Off  int32  // where the IP header starts in data
	hdrEnd int32  // IPv4: end of the IP header; IPv6: offset of the fragment header
	class  int8   // buffer class of data, or -1 when data is not pooled
	port   uint8  // the port it arrived on, the port it leaves from
	last   bool   // More Fragments clear
}

func (h *fragment) payload() []byte { return h.data[h.payOff : h.payOff+h.end-h.off] }

// datagram is one reassembly in progress, or a dead one remembered until its
// deadline (dead != reason.None, no fragments, no memory, no sources).
type datagram struct {
	key datagramKey

	// frags are sorted by offset. They never overlap: F4 kills a datagram
	// at the first overlap and drops exact duplicates, so covered (the sum
	// of their lengths) is the exact number of payload bytes present and
	// completion is covered == total.
	frags   []fragment
	small   []fragment // the record's own fragment list, kept across reuse
	bigCost int64      // memory charged for a list larger than small, 0 if none
	covered int32
	total   int32 // payload size once the final fragment is held, else -1
	maxEnd  int32 // highest end of any held fragment
	held    int64 // buffer bytes held, counted against the budget

	deadline int64 // F8: first fragment + fragment_timeout; never moves
	dead     reason.Reason

	// Knobs as they were when the datagram began (SetPolicy affects new
	// datagrams only).
	minBytes int32
	maxFrags int32

	prev, next int32 // deadline-ordered list: live or dead

	// The sources (F12) charged for the datagram's memory, and its place
	// in each one's oldest-first list.
	src              [source.MaxKeys]int32
	srcPrev, srcNext [source.MaxKeys]int32
	nsrc             int8
}

// smallFrags is how many fragments a datagram record lists without extra
// memory. The list is kept when the record is reused, so datagrams of up to
// smallFrags fragments (23 kB at a 1500-byte MTU) never allocate; a larger
// one gets a list sized for max_fragments, charged against the budget like
// its buffers and given back to the garbage collector when it ends. This
// keeps the fragment lists of all records within MaxDatagrams*smallFrags
// entries plus what the budget pays for.
const smallFrags = 16

// fragEntrySize is what one fragment list entry costs against the budget.
const fragEntrySize = int64(unsafe.Sizeof(fragment{}))

// slotOf returns which of the datagram's source slots belongs to source s.
func (d *datagram) slotOf(s int32) int {
	if d.nsrc > 1 && d.src[1] == s {
		return 1
	}
	return 0
}

// place finds where a fragment covering [off, end) goes and applies F4: it
// returns reason.FragDuplicate for an exact duplicate (same offset, length,
// payload bytes and final flag) and reason.FragOverlap for any other overlap,
// even one whose bytes agree, and for a fragment that contradicts the
// datagram's known end (a second, different final fragment, or data past the
// end). Only the payload is compared, never IP header fields.
func (d *datagram) place(f *packet.Frame, off, end int32) (int, reason.Reason) {
	frags := d.frags
	lo, hi := 0, len(frags)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if frags[mid].off < off {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	pos := lo
	if pos < len(frags) && frags[pos].off == off && frags[pos].end == end {
		h := &frags[pos]
		payload := f.Data[f.FragDataOff : f.FragDataOff+f.FragDataLen]
		if h.last == !f.MoreFrags && bytes.Equal(h.payload(), payload) {
			return pos, reason.FragDuplicate
		}
		return pos, reason.FragOverlap
	}
	if pos > 0 && frags[pos-1].end > off {
		return pos, reason.FragOverlap
	}
	if pos < len(frags) && frags[pos].off < end {
		return pos, reason.FragOverlap
	}
	if !f.MoreFrags {
		if d.total >= 0 && d.total != end || d.maxEnd > end {
			return pos, reason.FragOverlap
		}
	} else if d.total >= 0 && end >= d.total {
		return pos, reason.FragOverlap
	}
	return pos, reason.None
}

// insert puts a fragment at pos (from place) and updates the coverage.
func (d *datagram) insert(pos int, h fragment) {
	d.frags = append(d.frags, fragment{})
	copy(d.frags[pos+1:], d.frags[pos:])
	d.frags[pos] = h
	d.covered += h.end - h.off
	if h.end > d.maxEnd {
		d.maxEnd = h.end
	}
	if h.last {
		d.total = h.end
	}
}

// complete reports whether a fragment of n bytes, final or not, ending at
// end, would complete the datagram.
func (d *datagram) completes(n, end int32, last bool) bool {
	total := d.total
	if last {
		total = end
	}
	return total >= 0 && d.covered+n == total
}
