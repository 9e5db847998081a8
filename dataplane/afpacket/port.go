package afpacket

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkCheckEvery is how often a quiet port asks the kernel whether its
// interface is still the same one and still up.
const linkCheckEvery = time.Second

// Port is one bridge port, or one queue of it (OpenQueues). Receiving
// (Wait, Receive) must happen on one goroutine and transmitting (Send,
// Flush) on one goroutine; the two may differ. Stats, LinkUp and Name are
// safe from anywhere.
type Port struct {
	name string
	opts Options
	log  *slog.Logger

	// fanout is the group this queue's receive socket joins; nil for a
	// port of one queue.
	fanout *fanoutGroup

	// Receive half: owned by the receiving goroutine.
	rx        *rxRing
	pair      [2]unix.PollFd // WaitPair's poll set, kept here so waiting allocates nothing
	pairTime  unix.Timespec
	rxRetry   backoff
	nextCheck time.Time

	// Transmit half: owned by the transmitting goroutine.
	txFd      int
	tx        transmitter
	txIfindex int
	txRetry   backoff
	txDown    bool
	txRecheck time.Time

	up      atomic.Bool
	ifindex atomic.Int64
	stats   counters

	// The socket filter SetFilter asked for; filterMu orders changes.
	filter    atomic.Pointer[socketFilter]
	filterMu  sync.Mutex
	filterGen uint64
}

// Open binds a port to the named interface. The interface must exist now;
// later it may go down, vanish and come back and the port follows it.
func Open(ifname string, opts Options) (*Port, error) {
	return open(ifname, opts, nil)
}

// OpenQueues binds n queues to the named interface, each with its own
// receive ring and transmit socket, for n goroutines to serve in
// parallel. With n > 1 the receive sockets form one fanout group (see
// fanout.go): every frame reaches exactly one queue, and both directions
// of a connection reach queues of the same index on every interface.
// Ring sizes left at zero in opts are the defaults divided among the
// queues, so n queues take about the memory one port takes.
func OpenQueues(ifname string, n int, opts Options) ([]*Port, error) {
	if n < 1 {
		return nil, fmt.Errorf("afpacket: %d queues", n)
	}
	if n == 1 {
		p, err := Open(ifname, opts)
		if err != nil {
			return nil, err
		}
		return []*Port{p}, nil
	}
	if opts.NumBlocks == 0 {
		blocks, least := DefaultNumBlocks, minQueueBlocks
		if opts.VNetHdr && opts.BlockSize == 0 {
			// Blocks twice the size (Options.VNetHdr): half as many
			// keep the ring's memory.
			blocks, least = vnetNumBlocks, minQueueBlocks/2
		}
		opts.NumBlocks = max(blocks/n, least)
	}
	if opts.TXFrames == 0 {
		opts.TXFrames = max(DefaultTXFrames/n, minQueueTXFrames)
	}
	g := newFanoutGroup()
	ports := make([]*Port, 0, n)
	for range n {
		p, err := open(ifname, opts, g)
		if err != nil {
			for _, q := range ports {
				q.Close()
			}
			return nil, err
		}
		ports = append(ports, p)
	}
	return ports, nil
}

// The least a queue gets when the defaults are divided: 16 blocks of
// 64 KiB (1 MiB) of receive ring and room for four batches of 64 frames
// to transmit.
const (
	minQueueBlocks   = 16
	minQueueTXFrames = 256
)

func open(ifname string, opts Options, g *fanoutGroup) (*Port, error) {
	st, err := queryLink(ifname)
	if err != nil {
		return nil, err
	}
	if opts.TXFrameSize == 0 {
		// Room for the largest frame the link carries: MTU, Ethernet
		// header and two VLAN tags, after the slot header.
		opts.TXFrameSize = max(DefaultTXFrameSize, (tpacket3HdrLen+st.mtu+22+15)&^15)
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Port{name: ifname, opts: o, log: o.Logger, txFd: -1, fanout: g}
	p.up.Store(st.up)
	p.ifindex.Store(int64(st.ifindex))
	if p.rx, err = p.openRX(st.ifindex); err != nil {
		return nil, fmt.Errorf("port %s: %w", ifname, err)
	}
	if err := p.openTX(st.ifindex); err != nil {
		p.rx.close()
		return nil, fmt.Errorf("port %s: %w", ifname, err)
	}
	p.nextCheck = time.Now().Add(linkCheckEvery)
	p.log.Info("port opened", "port", ifname, "ifindex", st.ifindex, "link_up", st.up, "tx", o.TXMode.String())
	return p, nil
}

// Name is the interface name.
func (p *Port) Name() string { return p.name }

// LinkUp reports whether the interface was up with carrier at the last check.
func (p *Port) LinkUp() bool { return p.up.Load() }

// Fd is the receive socket, for callers that poll it themselves; -1 while
// the interface is gone.
func (p *Port) Fd() int {
	if p.rx == nil {
		return -1
	}
	return p.rx.fd
}

// openRX opens a receive ring on ifindex and joins the queue's fanout
// group, if it has one.
func (p *Port) openRX(ifindex int) (*rxRing, error) {
	rx, err := openRX(ifindex, p.opts)
	if err != nil {
		return nil, err
	}
	if p.fanout != nil {
		if err := p.fanout.join(rx.fd, ifindex); err != nil {
			rx.close()
			return nil, err
		}
	}
	return rx, nil
}

// Wait blocks until received frames are ready or d has passed, and reports
// whether frames are ready. It also notices link changes: a socket error or
// a periodic check makes it look up the interface, and an interface that
// was deleted and re-created is reopened here with backoff.
func (p *Port) Wait(d time.Duration) bool {
	if p.rx == nil {
		p.reopenRX(d)
		return false
	}
	if ready, ok := p.beforeWait(); ready || !ok {
		return ready
	}
	if p.rx.poll(d) {
		p.checkRX()
		if p.rx == nil {
			return false
		}
	}
	return p.rx.ready()
}

// WaitPair is Wait on two ports served by the same goroutine (one queue
// of each side of the bridge): it blocks until either has frames ready or
// d has passed, and reports whether one has.
func WaitPair(a, b *Port, d time.Duration) bool {
	n := 0
	var who [2]*Port
	for _, p := range [2]*Port{a, b} {
		if p.rx == nil {
			p.reopenRX(0)
			if p.rx == nil {
				continue
			}
		}
		ready, ok := p.beforeWait()
		if ready {
			return true
		}
		if ok {
			a.pair[n] = unix.PollFd{Fd: int32(p.rx.fd), Events: unix.POLLIN}
			who[n] = p
			n++
		}
	}
	if n == 0 {
		// Both interfaces are gone: wait out the retry, as Wait does.
		time.Sleep(min(d, backoffMin))
		return false
	}
	a.pairTime = unix.NsecToTimespec(int64(d))
	_, _, e := unix.Syscall6(unix.SYS_PPOLL, uintptr(unsafe.Pointer(&a.pair[0])), uintptr(n),
		uintptr(unsafe.Pointer(&a.pairTime)), 0, 0, 0)
	ready := false
	for i, p := range who[:n] {
		if e == 0 && a.pair[i].Revents&unix.POLLERR != 0 {
			unix.GetsockoptInt(p.rx.fd, unix.SOL_SOCKET, unix.SO_ERROR)
			p.checkRX()
		}
		ready = ready || p.rx != nil && p.rx.ready()
	}
	return ready
}

// beforeWait does what comes before blocking on a port's socket: install
// the newest filter, and look the interface up when it is due. It reports
// whether frames are ready already and whether there still is a socket
// to wait on.
func (p *Port) beforeWait() (ready, ok bool) {
	p.applyFilter()
	if p.rx.ready() {
		return true, true
	}
	now := time.Now()
	if !now.Before(p.nextCheck) {
		p.nextCheck = now.Add(linkCheckEvery)
		p.checkRX()
		if p.rx == nil {
			return false, false
		}
	}
	return false, true
}

// Receive hands up to maxFrames ready frames to fn (0 means every ready
// frame) and returns how many it handed over. A block is given back to the
// kernel as soon as its last frame is handled, so a small budget bounds the
// batch without holding the ring. The *Frame and its Data must not be kept
// after fn returns.
func (p *Port) Receive(fn func(*Frame), maxFrames int) int {
	if p.rx == nil {
		return 0
	}
	if maxFrames <= 0 {
		maxFrames = int(^uint(0) >> 1)
	}
	p.applyFilter()
	c := p.rx.receive(fn, maxFrames)
	if c.frames != 0 {
		p.stats.rxFrames.Add(c.frames)
		p.stats.rxBytes.Add(c.bytes)
	}
	if c.truncated != 0 {
		p.stats.rxTruncated.Add(c.truncated)
	}
	if c.cut != 0 {
		p.stats.rxCut.Add(c.cut)
	}
	return int(c.frames)
}

// checkRX looks the interface up again after an error or on schedule.
func (p *Port) checkRX() {
	p.collectKernelStats()
	st, err := queryLink(p.name)
	switch {
	case err != nil:
		p.setUp(false, "interface gone")
		p.rx.close()
		p.rx = nil
		p.rxRetry.failed(time.Now())
	case st.ifindex != p.rx.ifindex:
		p.log.Info("port interface re-created, reopening", "port", p.name, "ifindex", st.ifindex)
		p.rx.close()
		p.rx = nil
		p.reopenRX(0)
	default:
		p.setUp(st.up, "")
	}
}

func (p *Port) reopenRX(wait time.Duration) {
	now := time.Now()
	if !p.rxRetry.due(now) {
		if wait > 0 {
			sleep := p.rxRetry.next.Sub(now)
			if sleep > wait {
				sleep = wait
			}
			time.Sleep(sleep)
		}
		return
	}
	st, err := queryLink(p.name)
	if err == nil {
		var rx *rxRing
		if rx, err = p.openRX(st.ifindex); err == nil {
			p.rx = rx
			p.applyFilter()
			p.rxRetry.reset()
			p.ifindex.Store(int64(st.ifindex))
			p.stats.reopens.Add(1)
			p.nextCheck = now.Add(linkCheckEvery)
			p.setUp(st.up, "")
			return
		}
		p.log.Warn("port reopen failed", "port", p.name, "err", err)
	}
	p.rxRetry.failed(now)
}

// setUp records the link state and logs one line when it changes.
func (p *Port) setUp(up bool, why string) {
	if p.up.Swap(up) == up {
		return
	}
	if up {
		p.log.Info("port link up", "port", p.name)
		return
	}
	if why == "" {
		why = "down"
	}
	p.log.Warn("port link down", "port", p.name, "why", why)
}

func (p *Port) collectKernelStats() {
	if p.rx == nil {
		return
	}
	_, drops := p.rx.kernelStats()
	if drops != 0 {
		p.stats.kernelDrops.Add(drops)
	}
}

// openTX opens the transmit socket. It is bound with protocol 0 so the
// kernel never queues received frames on it.
func (p *Port) openTX(ifindex int) error {
	fd, err := packetSocket()
	if err != nil {
		return fmt.Errorf("afpacket: tx socket: %w", err)
	}
	// Frames go straight to the driver: a bridge port has no use for the
	// host's qdisc, and skipping it saves a lock and a queue per frame.
	if err := setInt(fd, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		unix.Close(fd)
		return fmt.Errorf("afpacket: PACKET_QDISC_BYPASS: %w", err)
	}
	var tx transmitter
	if p.opts.TXMode == TXSendmmsg {
		tx = openMmsg(fd, p.opts)
	} else if tx, err = openTXRing(fd, p.opts); err != nil {
		unix.Close(fd)
		return err
	}
	if err := bindTo(fd, ifindex, 0); err != nil {
		tx.close()
		unix.Close(fd)
		return fmt.Errorf("afpacket: bind tx: %w", err)
	}
	p.txFd, p.tx, p.txIfindex, p.txDown = fd, tx, ifindex, false
	return nil
}

func (p *Port) closeTX() {
	if p.tx != nil {
		p.tx.close()
		p.tx = nil
	}
	if p.txFd >= 0 {
		unix.Close(p.txFd)
		p.txFd = -1
	}
}

// Send queues a frame for transmission; it leaves with the next Flush (or
// earlier, when the ring needs room). The frame is copied, so the caller may
// reuse it at once. Frames sent while the link is down are dropped, as a
// wire would lose them.
func (p *Port) Send(frame []byte) error {
	if !p.txReady() {
		p.stats.txDropped.Add(1)
		return ErrLinkDown
	}
	if len(frame) > p.opts.TXFrameSize-tpacket3HdrLen {
		p.stats.txDropped.Add(1)
		return ErrTooBig
	}
	if !p.tx.queue(frame) {
		p.stats.txDropped.Add(1)
		return ErrTXFull
	}
	p.stats.txFrames.Add(1)
	p.stats.txBytes.Add(uint64(len(frame)))
	return nil
}

// Flush hands every queued frame to the kernel with one system call.
func (p *Port) Flush() error {
	if p.tx == nil || p.tx.pending() == 0 {
		return nil
	}
	unsent, err := p.tx.flush()
	if unsent > 0 {
		p.stats.txDropped.Add(uint64(unsent))
	}
	if err != nil {
		p.stats.txErrors.Add(1)
		p.txFailed(err)
	}
	return err
}

// txReady reports whether frames can be queued, reopening or re-checking
// a transmit socket that failed earlier (at most once per backoff step).
func (p *Port) txReady() bool {
	if p.tx != nil && !p.txDown {
		return true
	}
	now := time.Now()
	if p.tx == nil {
		if !p.txRetry.due(now) {
			return false
		}
		st, err := queryLink(p.name)
		if err == nil {
			err = p.openTX(st.ifindex)
		}
		if err != nil {
			p.txRetry.failed(now)
			return false
		}
		p.txRetry.reset()
		p.txDown = !st.up
		return !p.txDown
	}
	// Down but present: look again every backoff step.
	if now.Before(p.txRecheck) {
		return false
	}
	p.txRecheck = now.Add(backoffMin)
	st, err := queryLink(p.name)
	switch {
	case err != nil || st.ifindex != p.txIfindex:
		p.closeTX()
	case st.up:
		p.txDown = false
	}
	return p.tx != nil && !p.txDown
}

// txFailed reacts to a failed flush: a vanished interface means a new
// socket; a downed one means dropping until it is up again.
func (p *Port) txFailed(err error) {
	switch {
	case isGone(err):
		p.closeTX()
		p.txRetry.failed(time.Now())
	case errors.Is(err, unix.ENETDOWN):
		p.txDown = true
		p.txRecheck = time.Now().Add(backoffMin)
	}
}

// Close releases both sockets and rings. The port must be idle.
func (p *Port) Close() error {
	if p.rx != nil {
		p.rx.close()
		p.rx = nil
	}
	p.closeTX()
	return nil
}
