package dataplane

import (
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
)

// Port is one queue of one side of the bridge as the engine sees it: a
// receive queue and a transmit path, both served by one worker.
// *afpacket.Port is the real one; MemPort is an in-memory one for tests
// and simulation. A port of several queues is a list of them, one per
// worker (afpacket.OpenQueues, MemQueues).
//
// Receiving (Wait, Receive) and transmitting (Send, Flush) happen on the
// worker's goroutine, so a queue needs no locking of its own.
type Port interface {
	// Name identifies the port in logs and counters.
	Name() string
	// Wait blocks until received frames are ready or d has passed.
	Wait(d time.Duration) bool
	// Receive hands up to maxFrames ready frames to fn and returns how
	// many it handed over. The frame is only valid during fn.
	Receive(fn func(*afpacket.Frame), maxFrames int) int
	// Send queues a copy of frame for transmission.
	Send(frame []byte) error
	// SendVNet is Send for a frame with offload state (a GSO aggregate,
	// a partial checksum), which goes out with it for the kernel or NIC
	// to segment and checksum. A port that cannot carry it refuses any
	// header but the zero one (afpacket.ErrNoVNetHdr).
	SendVNet(h afpacket.VNetHdr, frame []byte) error
	// Flush transmits everything queued.
	Flush() error
	// LinkUp reports whether the link was up at the last check.
	LinkUp() bool
}

// portStatser is implemented by ports that keep their own I/O statistics
// (ring overflows, transmit drops) beyond what the engine counts.
type portStatser interface {
	Stats() afpacket.Stats
}

var _ Port = (*afpacket.Port)(nil)

// waitPair blocks until either of a worker's two queues has frames ready
// or d has passed. AF_PACKET queues wait in one ppoll and in-memory ones
// in one select; any other pair (test doubles wrapping a port) is waited
// on in turn, half the time each, which delays the second by at most d/2
// when the first is idle.
func waitPair(a, b Port, d time.Duration) bool {
	switch pa := a.(type) {
	case *afpacket.Port:
		if pb, ok := b.(*afpacket.Port); ok {
			return afpacket.WaitPair(pa, pb, d)
		}
	case *MemPort:
		if pb, ok := b.(*MemPort); ok {
			return waitMemPair(pa, pb, d)
		}
	}
	return a.Wait(d/2) || b.Wait(d/2)
}
