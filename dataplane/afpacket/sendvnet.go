package afpacket

import "errors"

// ErrNoVNetHdr is SendVNet's answer for a port opened without
// Options.VNetHdr: the frame's offload state cannot go out with it.
var ErrNoVNetHdr = errors.New("afpacket: port has no virtio_net_hdr (Options.VNetHdr off)")

// SendVNet queues a frame with its virtio_net_hdr on a port opened with
// Options.VNetHdr, like Send: the kernel, or the NIC, cuts a GSO frame
// into segments of h.GSOSize payload bytes and completes a checksum that
// h marks VNetNeedsCsum. VNetDataValid means nothing on transmit and is
// cleared. On a port without VNetHdr only a header that asks for nothing
// is accepted (the frame is sent as by Send); any other is refused with
// ErrNoVNetHdr and counted as dropped, since the frame would leave with
// a partial checksum or as one oversized frame.
func (p *Port) SendVNet(h VNetHdr, frame []byte) error {
	h.Flags &^= VNetDataValid
	if !p.opts.VNetHdr {
		if h != (VNetHdr{}) {
			p.stats.txDropped.Add(1)
			return ErrNoVNetHdr
		}
		return p.Send(frame)
	}
	if !p.txReady() {
		p.stats.txDropped.Add(1)
		return ErrLinkDown
	}
	// Options refuses VNetHdr with any transmitter but the ring.
	ring := p.tx.(*txRing)
	if len(frame) > p.opts.TXFrameSize-tpacket3HdrLen-VNetHdrLen {
		p.stats.txDropped.Add(1)
		return ErrTooBig
	}
	if !ring.queueVNet(h, frame) {
		p.stats.txDropped.Add(1)
		return ErrTXFull
	}
	p.stats.txFrames.Add(1)
	p.stats.txBytes.Add(uint64(len(frame)))
	return nil
}
