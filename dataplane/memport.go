package dataplane

import (
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"

	"github.com/rackwall/rackwall/dataplane/afpacket"
)

// MemPort is a Port that lives in memory: frames injected into it are
// received by the engine, and frames the engine transmits on it are kept
// until taken. It lets the engine run, be tested and be benchmarked
// without root, interfaces or the kernel. After warm-up it allocates
// nothing per frame: frames are kept in reusable arenas.
type MemPort struct {
	name string
	up   atomic.Bool

	mu      sync.Mutex
	rxArena []byte // injected frames, back to back
	rxEnds  []int  // end offset of each injected frame in rxArena
	rxTimes []time.Time
	rxCut   []bool
	rxVNet  []afpacket.VNetHdr
	ready   chan struct{} // signalled when frames are injected
	filter  *bpf.VM       // the socket filter, run on Inject as the kernel would
	cutSnap int

	// Transmit side, used only by the worker that owns the queue.
	txArena []byte // queued, unflushed frames
	txEnds  []int
	txVNet  []afpacket.VNetHdr

	sentMu    sync.Mutex
	sentArena []byte
	sentEnds  []int
	sentVNet  []afpacket.VNetHdr

	// Scratch for Receive (only the receiving goroutine touches it).
	rxCopy []byte
	ends   []int
	times  []time.Time
	cuts   []bool
	vnets  []afpacket.VNetHdr
	frame  afpacket.Frame
}

// NewMemPort returns an in-memory port whose link is up.
func NewMemPort(name string) *MemPort {
	p := &MemPort{name: name, ready: make(chan struct{}, 1)}
	p.up.Store(true)
	return p
}

// Name implements Port.
func (p *MemPort) Name() string { return p.name }

// LinkUp implements Port.
func (p *MemPort) LinkUp() bool { return p.up.Load() }

// SetLinkUp sets what LinkUp reports.
func (p *MemPort) SetLinkUp(up bool) { p.up.Store(up) }

// Inject queues a copy of frame as if it had arrived on the wire. A socket
// filter set with SetFilter runs first, with the kernel's meaning: 0 drops
// the frame, a smaller length cuts it.
func (p *MemPort) Inject(frame []byte) { p.InjectVNet(afpacket.VNetHdr{}, frame) }

// InjectVNet is Inject for a frame that arrives with offload state, as on
// an afpacket port with Options.VNetHdr: a GRO aggregate or a frame with a
// partial checksum.
func (p *MemPort) InjectVNet(h afpacket.VNetHdr, frame []byte) {
	p.mu.Lock()
	cut := false
	if p.filter != nil {
		n, err := p.filter.Run(frame)
		if err != nil || n == 0 {
			p.mu.Unlock()
			return
		}
		if n < len(frame) {
			frame = frame[:n]
			cut = n == p.cutSnap
		}
	}
	p.rxArena = append(p.rxArena, frame...)
	p.rxEnds = append(p.rxEnds, len(p.rxArena))
	p.rxTimes = append(p.rxTimes, time.Now())
	p.rxCut = append(p.rxCut, cut)
	p.rxVNet = append(p.rxVNet, h)
	p.mu.Unlock()
	select {
	case p.ready <- struct{}{}:
	default:
	}
}

// Wait implements Port.
func (p *MemPort) Wait(d time.Duration) bool {
	if p.pending() > 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.ready:
	case <-t.C:
	}
	return p.pending() > 0
}

func (p *MemPort) pending() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.rxEnds)
}

// Receive implements Port: it hands over up to maxFrames injected frames
// (0: all of them), oldest first.
func (p *MemPort) Receive(fn func(*afpacket.Frame), maxFrames int) int {
	p.mu.Lock()
	n := len(p.rxEnds)
	if maxFrames > 0 && n > maxFrames {
		n = maxFrames
	}
	if n == 0 {
		p.mu.Unlock()
		return 0
	}
	// Copy the frames out so Inject can go on while fn runs, then drop
	// them from the queue, keeping the arenas' capacity.
	taken := p.rxEnds[n-1]
	p.rxCopy = append(p.rxCopy[:0], p.rxArena[:taken]...)
	p.ends = append(p.ends[:0], p.rxEnds[:n]...)
	p.times = append(p.times[:0], p.rxTimes[:n]...)
	p.cuts = append(p.cuts[:0], p.rxCut[:n]...)
	p.vnets = append(p.vnets[:0], p.rxVNet[:n]...)
	rest := copy(p.rxArena, p.rxArena[taken:])
	p.rxArena = p.rxArena[:rest]
	m := copy(p.rxEnds, p.rxEnds[n:])
	for i := range m {
		p.rxEnds[i] -= taken
	}
	p.rxEnds = p.rxEnds[:m]
	p.rxTimes = p.rxTimes[:copy(p.rxTimes, p.rxTimes[n:])]
	p.rxCut = p.rxCut[:copy(p.rxCut, p.rxCut[n:])]
	p.rxVNet = p.rxVNet[:copy(p.rxVNet, p.rxVNet[n:])]
	p.mu.Unlock()

	start := 0
	for i, end := range p.ends {
		// The kernel reports a partial checksum in the ring's status
		// too (TP_STATUS_CSUMNOTREADY), with or without the header.
		pending := p.vnets[i].Flags&afpacket.VNetNeedsCsum != 0
		p.frame = afpacket.Frame{Data: p.rxCopy[start:end], Time: p.times[i], Cut: p.cuts[i], VNet: p.vnets[i], ChecksumPending: pending}
		fn(&p.frame)
		start = end
	}
	return n
}

// SetFilter is afpacket.Port.SetFilter for the in-memory port. A program
// that does not disassemble or validate is refused the way the kernel
// refuses it: the port goes on without a filter.
func (p *MemPort) SetFilter(prog []bpf.RawInstruction, cut int) {
	var vm *bpf.VM
	if insns, ok := bpf.Disassemble(prog); ok && len(prog) > 0 {
		vm, _ = bpf.NewVM(insns)
	}
	p.mu.Lock()
	p.filter, p.cutSnap = vm, cut
	p.mu.Unlock()
}

// Send implements Port.
func (p *MemPort) Send(frame []byte) error { return p.SendVNet(afpacket.VNetHdr{}, frame) }

// SendVNet implements Port: the header is kept beside the frame (SentVNet),
// as a port with Options.VNetHdr sends it.
func (p *MemPort) SendVNet(h afpacket.VNetHdr, frame []byte) error {
	p.txArena = append(p.txArena, frame...)
	p.txEnds = append(p.txEnds, len(p.txArena))
	p.txVNet = append(p.txVNet, h)
	return nil
}

// Flush implements Port: queued frames become visible to Sent.
func (p *MemPort) Flush() error {
	if len(p.txEnds) == 0 {
		return nil
	}
	p.sentMu.Lock()
	base := len(p.sentArena)
	p.sentArena = append(p.sentArena, p.txArena...)
	for _, end := range p.txEnds {
		p.sentEnds = append(p.sentEnds, base+end)
	}
	p.sentVNet = append(p.sentVNet, p.txVNet...)
	p.sentMu.Unlock()
	p.txArena, p.txEnds, p.txVNet = p.txArena[:0], p.txEnds[:0], p.txVNet[:0]
	return nil
}

// Sent returns copies of the frames transmitted (and flushed) since the
// last call, in order.
func (p *MemPort) Sent() [][]byte {
	frames, _ := p.SentVNet()
	return frames
}

// SentVNet is Sent with the virtio_net_hdr each frame was sent with (zero
// for a plain Send).
func (p *MemPort) SentVNet() ([][]byte, []afpacket.VNetHdr) {
	p.sentMu.Lock()
	defer p.sentMu.Unlock()
	out := make([][]byte, len(p.sentEnds))
	start := 0
	for i, end := range p.sentEnds {
		out[i] = append([]byte(nil), p.sentArena[start:end]...)
		start = end
	}
	hdrs := append([]afpacket.VNetHdr(nil), p.sentVNet...)
	p.sentArena, p.sentEnds, p.sentVNet = p.sentArena[:0], p.sentEnds[:0], p.sentVNet[:0]
	return out, hdrs
}

// Discard forgets the transmitted frames without copying them; benchmarks
// use it to keep the arenas from growing.
func (p *MemPort) Discard() int {
	p.sentMu.Lock()
	defer p.sentMu.Unlock()
	n := len(p.sentEnds)
	p.sentArena, p.sentEnds, p.sentVNet = p.sentArena[:0], p.sentEnds[:0], p.sentVNet[:0]
	return n
}

// waitMemPair is Wait on two in-memory queues at once.
func waitMemPair(a, b *MemPort, d time.Duration) bool {
	if a.pending() > 0 || b.pending() > 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-a.ready:
	case <-b.ready:
	case <-t.C:
	}
	return a.pending() > 0 || b.pending() > 0
}
