package frag

// Held fragments are copied into pooled buffers of a few fixed size classes,
// so a 60-byte fragment does not pin a jumbo-sized buffer and steady-state
// reassembly never allocates. What counts against fragment_memory is the
// capacity of the buffers actually held (F11: every buffered byte counts).

// bufferClasses are the buffer capacities, each 1.5x or 1.33x the one before,
// so no class wastes more than a third of a buffer. 1536 fits a standard
// Ethernet frame; the largest fits any IP packet plus its link header.
var bufferClasses = [...]int{
	128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144,
	8192, 9216, 12288, 16384, 24576, 32768, 49152, 65536, 65536 + 1024,
}

// maxFrameLen is the largest frame the reassembler holds.
var maxFrameLen = bufferClasses[len(bufferClasses)-1]

// classFor returns the smallest class that holds n bytes, or -1.
func classFor(n int) int {
	lo, hi := 0, len(bufferClasses)
	for lo < hi {
		mid := (lo + hi) / 2
		if bufferClasses[mid] >= n {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	if lo == len(bufferClasses) {
		return -1
	}
	return lo
}

// bufferPool keeps freed buffers for reuse. pooled counts every buffer it
// has handed out and not let go (held or free), so the memory the pool
// retains never exceeds the budget.
type bufferPool struct {
	free   [len(bufferClasses)][][]byte
	pooled int64
}

// get returns a buffer of class c, reusing a free one if possible. limit is
// the budget: free buffers of other classes are released to the garbage
// collector rather than let the pool grow beyond it.
func (p *bufferPool) get(c int, limit int64) []byte {
	if n := len(p.free[c]); n > 0 {
		b := p.free[c][n-1]
		p.free[c][n-1] = nil
		p.free[c] = p.free[c][:n-1]
		return b
	}
	size := int64(bufferClasses[c])
	for i := len(p.free) - 1; i >= 0 && p.pooled+size > limit; i-- {
		for len(p.free[i]) > 0 && p.pooled+size > limit {
			n := len(p.free[i])
			p.free[i][n-1] = nil
			p.free[i] = p.free[i][:n-1]
			p.pooled -= int64(bufferClasses[i])
		}
	}
	p.pooled += size
	return make([]byte, bufferClasses[c])
}

// put returns a buffer of class c to the pool.
func (p *bufferPool) put(c int, b []byte) {
	p.free[c] = append(p.free[c], b[:cap(b)])
}
