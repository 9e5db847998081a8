package capture

import (
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/source"
)

// Filter selects captured frames. The zero Filter selects all of them.
type Filter struct {
	Reason reason.Reason // reason.None: any reason
	Source *source.Key   // nil: any source; else frames charged to this source
	Since  time.Time     // zero: any time; else frames at or after Since
	Max    int           // 0: no limit; else the newest Max frames that match
}

func (f *Filter) match(rec *record) bool {
	if f.Reason != reason.None && rec.reason != f.Reason {
		return false
	}
	if !f.Since.IsZero() && rec.ts < f.Since.UnixNano() {
		return false
	}
	if f.Source != nil {
		for i := 0; i < int(rec.nkeys); i++ {
			if rec.keys[i] == *f.Source {
				return true
			}
		}
		return false
	}
	return true
}

// Record describes one captured frame, for the UI.
type Record struct {
	Seq      uint64 // 1 upward in the order frames were added
	Time     time.Time
	Port     uint8
	Reason   reason.Reason
	Sources  []source.Key
	Length   int // the frame's original length
	Captured int // bytes kept
}

func (rec *record) export() Record {
	return Record{
		Seq: rec.seq, Time: time.Unix(0, rec.ts).UTC(), Port: rec.port, Reason: rec.reason,
		Sources: append([]source.Key(nil), rec.keys[:rec.nkeys]...),
		Length:  int(rec.length), Captured: int(rec.capture),
	}
}

// selectRecords returns the metadata of the frames f selects, oldest first.
func (r *Ring) selectRecords(f Filter) []record {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []record
	for seq := r.next - 1; seq >= 1 && r.next-seq <= uint64(len(r.recs)); seq-- {
		rec := &r.recs[seq%uint64(len(r.recs))]
		if f.match(rec) {
			out = append(out, *rec)
			if f.Max > 0 && len(out) == f.Max {
				break
			}
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Snapshot returns the frames f selects, oldest first, without their bytes.
func (r *Ring) Snapshot(f Filter) []Record {
	recs := r.selectRecords(f)
	out := make([]Record, len(recs))
	for i := range recs {
		out[i] = recs[i].export()
	}
	return out
}

// copyFrame copies the bytes of frame seq into buf if the ring still holds
// it, and returns them.
func (r *Ring) copyFrame(seq uint64, buf []byte) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.recs) == 0 {
		return nil, false
	}
	i := int(seq % uint64(len(r.recs)))
	if r.recs[i].seq != seq {
		return nil, false // overwritten since it was selected
	}
	return append(buf[:0], r.data[i*r.snap:i*r.snap+int(r.recs[i].capture)]...), true
}
