// Package capture keeps the most recent dropped frames in a fixed ring, each
// with its drop reason and sources, and writes them out as pcapng (Q3) so an
// operator can open exactly what the box refused, and why, in Wireshark.
//
// The ring's memory is allocated once; Add, called from the packet loop,
// copies into it without allocating. Readers copy out what they select, one
// frame at a time, so a download never holds up the packet loop for long.
package capture

import (
	"strconv"
	"sync"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Ports as Add receives them: the port a frame arrived on. They match
// packet.Direction: frames arriving on the uplink travel In.
const (
	PortUplink uint8 = 0
	PortRack   uint8 = 1
)

// PortName is the interface name a port has in pcapng files and the UI.
func PortName(port uint8) string {
	switch port {
	case PortUplink:
		return "uplink"
	case PortRack:
		return "rack"
	}
	return "port" + strconv.Itoa(int(port))
}

// record is the metadata of one captured frame; its bytes live in the
// ring's data at the same index.
type record struct {
	seq     uint64 // 1 upward; 0 marks a never-used entry
	ts      int64  // Unix ns
	port    uint8
	reason  reason.Reason
	nkeys   uint8
	keys    [source.MaxKeys]source.Key
	length  uint32 // the frame's original length
	capture uint32 // bytes kept, at most snap
}

// Ring holds the most recent dropped frames. Create it with New.
type Ring struct {
	mu   sync.Mutex
	snap int
	data []byte // len(recs) × snap
	recs []record
	next uint64 // seq of the next frame added
}

// New returns a ring keeping the last frames dropped frames, up to snap
// bytes of each. frames 0 makes a ring that keeps nothing.
func New(frames, snap int) *Ring {
	frames, snap = max(frames, 0), max(snap, 1)
	return &Ring{
		snap: snap,
		data: make([]byte, frames*snap),
		recs: make([]record, frames),
		next: 1,
	}
}

// Add keeps a copy of a dropped frame (up to snap bytes; the original length
// is remembered), overwriting the oldest when the ring is full. why is the
// drop reason and keys[:n] the frame's sources. It allocates nothing.
func (r *Ring) Add(ts time.Time, port uint8, why reason.Reason, keys [source.MaxKeys]source.Key, n int, frame []byte) {
	if len(r.recs) == 0 {
		return
	}
	n = min(max(n, 0), source.MaxKeys)
	r.mu.Lock()
	i := int(r.next % uint64(len(r.recs)))
	c := copy(r.data[i*r.snap:(i+1)*r.snap], frame)
	rec := &r.recs[i]
	*rec = record{
		seq: r.next, ts: ts.UnixNano(), port: port, reason: why, nkeys: uint8(n),
		length: uint32(min(len(frame), 1<<32-1)), capture: uint32(c),
	}
	copy(rec.keys[:n], keys[:n])
	r.next++
	r.mu.Unlock()
}

// Snap returns the bytes kept of each frame.
func (r *Ring) Snap() int { return r.snap }

// Cap returns how many frames the ring keeps.
func (r *Ring) Cap() int { return len(r.recs) }

// Added returns how many frames were ever added, kept or since overwritten.
func (r *Ring) Added() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next - 1
}
