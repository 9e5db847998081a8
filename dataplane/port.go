package dataplane

import (
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
)

// Port is one side of the bridge as the engine sees it. *afpacket.Port is
// the real one; MemPort is an in-memory one for tests and simulation.
//
// Receiving (Wait, Receive) happens on one goroutine. Send and Flush are
// called with the port's transmit lock held by the engine, so a port needs
// no locking of its own.
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
