package quarantine

// windowBuckets is how finely the violation window slides: a violation counts
// for between 15/16 of quarantine_window and the whole window.
const windowBuckets = 16

// window counts violations over a sliding window made of windowBuckets
// buckets of equal width; epoch numbers buckets since the Unix epoch.
type window struct {
	epoch int64 // bucket number of the newest bucket
	sum   uint32
	b     [windowBuckets]uint32
}

// advance moves the window forward to bucket e, forgetting buckets that
// fall out of it.
func (w *window) advance(e int64) {
	if e <= w.epoch {
		return
	}
	if e-w.epoch >= windowBuckets {
		*w = window{epoch: e}
		return
	}
	for x := w.epoch + 1; x <= e; x++ {
		i := x & (windowBuckets - 1)
		w.sum -= w.b[i]
		w.b[i] = 0
	}
	w.epoch = e
}

// add counts one violation in bucket e and returns the window's total.
func (w *window) add(e int64) uint32 { return w.addN(e, 1) }

// addN counts k violations in bucket e (saturating) and returns the
// window's total.
func (w *window) addN(e int64, k uint32) uint32 {
	w.advance(e)
	if e <= w.epoch-windowBuckets {
		return w.sum // older than the window (the clock stepped back far)
	}
	k = min(k, ^uint32(0)-w.sum)
	w.b[e&(windowBuckets-1)] += k
	w.sum += k
	return w.sum
}

// count returns the total as of bucket e without changing the window.
func (w *window) count(e int64) uint32 {
	if e-w.epoch >= windowBuckets {
		return 0
	}
	s := w.sum
	for x := w.epoch + 1; x <= e; x++ {
		s -= w.b[x&(windowBuckets-1)]
	}
	return s
}

func (w *window) reset() { *w = window{epoch: w.epoch} }
