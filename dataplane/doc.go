// Package dataplane is the bridge's packet engine: it forwards frames
// between the uplink port and the rack port like a wire and runs every frame
// through the sanitization pipeline of POLICY.md on the way (decode and
// header rules, quarantine, fragment reassembly, transport checks, the
// stateful filter, T3 rewrites), counting every drop by port and reason.
//
// Workers (one per CPU by default) each serve one queue of both ports: the
// kernel's fanout program hashes a flow's addresses and ports so that both
// directions of a connection, and every fragment of a datagram, reach the
// same worker index. Each worker transmits only through its own queues,
// so forwarding takes no lock. The state the workers share is safe for
// concurrent use without an engine-wide lock: the connection table is
// sharded by connection, quarantine accounting and the capture ring have
// their own locks, the reassembler has one taken only for fragments, the
// policy and rules are swapped atomically, and counters are per worker,
// summed when read. Correctness never rests on the fanout: a flow whose
// frames reach different workers meets the same shared state.
package dataplane
