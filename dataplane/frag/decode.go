package frag

import (
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// decodeFrame decodes a whole datagram, or a held fragment again for
// Sink.Drop, with the packet decoder every other frame meets.
func decodeFrame(f *packet.Frame, data []byte, p *config.Policy) reason.Reason {
	return f.Decode(data, p)
}

// checkTransport is F10's T rules and transport checksum, always verified
// for a reassembled datagram whatever verify_checksums says.
func checkTransport(f *packet.Frame) reason.Reason {
	return packet.CheckTransport(f, true)
}
