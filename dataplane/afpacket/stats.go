package afpacket

import "sync/atomic"

// Stats are a port's totals since Open.
type Stats struct {
	RxFrames    uint64 // frames handed to Receive callbacks
	RxBytes     uint64
	RxTruncated uint64 // frames skipped because the ring held only part of them
	RxCut       uint64 // frames the socket filter cut to their headers (handed over with Frame.Cut)
	KernelDrops uint64 // frames the kernel dropped because the RX ring was full (PACKET_STATISTICS)
	TxFrames    uint64 // frames queued for transmission
	TxBytes     uint64
	TxDropped   uint64 // frames not sent: link down, too big, ring full
	TxErrors    uint64 // failed flushes
	Reopens     uint64 // times the receive socket was opened anew after the interface vanished
}

type counters struct {
	rxFrames, rxBytes, rxTruncated, rxCut, kernelDrops atomic.Uint64
	txFrames, txBytes, txDropped, txErrors             atomic.Uint64
	reopens                                            atomic.Uint64
}

// Stats returns the port's totals. Kernel ring drops are collected by the
// receiving goroutine about once a second.
func (p *Port) Stats() Stats {
	c := &p.stats
	return Stats{
		RxFrames: c.rxFrames.Load(), RxBytes: c.rxBytes.Load(), RxTruncated: c.rxTruncated.Load(), RxCut: c.rxCut.Load(),
		KernelDrops: c.kernelDrops.Load(),
		TxFrames:    c.txFrames.Load(), TxBytes: c.txBytes.Load(), TxDropped: c.txDropped.Load(),
		TxErrors: c.txErrors.Load(), Reopens: c.reopens.Load(),
	}
}
