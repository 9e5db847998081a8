package dataplane

import (
	"encoding/binary"

	"github.com/rackwall/rackwall/dataplane/filter"
)

// MemQueues is an in-memory port of several queues, shaped like the
// queues afpacket.OpenQueues opens: Inject hands a frame to the queue the
// kernel's fanout program would pick (see afpacket/fanout.go), so both
// directions of a flow reach queues of the same index, and tests and
// benchmarks run the engine with one worker per queue.
type MemQueues struct {
	queues []*MemPort
}

// NewMemQueues returns an in-memory port named name with n queues.
func NewMemQueues(name string, n int) *MemQueues {
	m := &MemQueues{queues: make([]*MemPort, max(n, 1))}
	for i := range m.queues {
		m.queues[i] = NewMemPort(name)
	}
	return m
}

// Ports returns the queues, for Config.UplinkQueues or RackQueues.
func (m *MemQueues) Ports() []Port {
	ps := make([]Port, len(m.queues))
	for i, q := range m.queues {
		ps[i] = q
	}
	return ps
}

// Queue returns queue i.
func (m *MemQueues) Queue(i int) *MemPort { return m.queues[i] }

// Inject queues a copy of frame on the queue its flow hashes to.
func (m *MemQueues) Inject(frame []byte) {
	m.queues[FlowQueue(frame, len(m.queues))].Inject(frame)
}

// Sent returns copies of the frames every queue transmitted since the
// last call: each queue's in order, the queues one after the other.
func (m *MemQueues) Sent() [][]byte {
	var out [][]byte
	for _, q := range m.queues {
		out = append(out, q.Sent()...)
	}
	return out
}

// Discard forgets the transmitted frames and returns how many there were.
func (m *MemQueues) Discard() int {
	n := 0
	for _, q := range m.queues {
		n += q.Discard()
	}
	return n
}

// FlowQueue is the queue of n that the fanout program of afpacket sends
// frame to: a hash of source XOR destination address, XOR the two ports
// for TCP and UDP that are not fragments, folded (filter.FoldFlowHash),
// modulo n. Frames that
// are not IPv4 or IPv6 after at most one VLAN tag go to queue 0, as do
// frames too short for the headers the hash reads.
func FlowQueue(frame []byte, n int) int {
	if n <= 1 || len(frame) < 14 {
		return 0
	}
	off := 12
	et := binary.BigEndian.Uint16(frame[off:])
	if et == 0x8100 || et == 0x88a8 {
		// The kernel moves one tag into metadata before fanout.
		off += 4
		if len(frame) < off+2 {
			return 0
		}
		et = binary.BigEndian.Uint16(frame[off:])
	}
	ip := frame[off+2:]
	var h uint32
	word := func(o int) uint32 { return binary.BigEndian.Uint32(ip[o:]) }
	ports := -1
	switch et {
	case 0x0800:
		if len(ip) < 20 {
			return 0
		}
		h = word(12) ^ word(16)
		proto := ip[9]
		if binary.BigEndian.Uint16(ip[6:])&0x3fff == 0 && (proto == 6 || proto == 17) {
			ports = int(ip[0]&0x0f) * 4
		}
	case 0x86dd:
		if len(ip) < 40 {
			return 0
		}
		for o := 8; o < 40; o += 4 {
			h ^= word(o)
		}
		if ip[6] == 6 || ip[6] == 17 {
			ports = 40
		}
	default:
		return 0
	}
	if ports >= 0 {
		if len(ip) < ports+4 {
			// The kernel's load fails and the program returns 0.
			return 0
		}
		p := word(ports)
		h ^= p>>16 ^ p&0xffff
	}
	return int(filter.FoldFlowHash(h) % uint32(n))
}
