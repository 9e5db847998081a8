package afpacket

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// socketFilter is a classic BPF program for the receive socket and the
// snap length it cuts unwanted frames to.
type socketFilter struct {
	insns []unix.SockFilter
	cut   int
	gen   uint64
}

// SetFilter asks the kernel to run prog on every frame the port receives,
// before the frame is copied into the ring. A program returning cut keeps
// only cut bytes of the frame; such frames are handed to Receive with
// Frame.Cut set, so they can be counted but are never forwarded. An empty
// prog removes the filter.
//
// SetFilter may be called from any goroutine: the receiving goroutine
// installs the program at its next Wait or Receive, and again on every
// socket it opens after the interface comes back.
func (p *Port) SetFilter(prog []bpf.RawInstruction, cut int) {
	f := &socketFilter{cut: cut}
	for _, in := range prog {
		f.insns = append(f.insns, unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K})
	}
	p.filterMu.Lock()
	p.filterGen++
	f.gen = p.filterGen
	p.filter.Store(f)
	p.filterMu.Unlock()
}

// applyFilter installs the newest filter on the receive socket if it does
// not have it yet. Called by the receiving goroutine.
func (p *Port) applyFilter() {
	f := p.filter.Load()
	if f == nil || p.rx == nil || p.rx.filterGen == f.gen {
		return
	}
	if err := p.rx.attach(f); err != nil {
		p.log.Warn("port socket filter not installed", "port", p.name, "err", err)
	}
	// Not retried until the next change: a program the kernel refuses
	// once it refuses again, and user space drops the frames anyway.
	p.rx.filterGen = f.gen
}

func (r *rxRing) attach(f *socketFilter) error {
	if len(f.insns) == 0 {
		r.cut = 0
		err := unix.SetsockoptInt(r.fd, unix.SOL_SOCKET, unix.SO_DETACH_FILTER, 0)
		if err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("detach: %w", err)
		}
		return nil
	}
	prog := unix.SockFprog{Len: uint16(len(f.insns)), Filter: &f.insns[0]}
	if err := unix.SetsockoptSockFprog(r.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fmt.Errorf("attach %d instructions: %w", len(f.insns), err)
	}
	r.cut = f.cut
	return nil
}
