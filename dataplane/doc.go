// Package dataplane is the bridge's packet engine: it forwards frames
// between the uplink port and the rack port like a wire and runs every frame
// through the sanitization pipeline of POLICY.md on the way (decode and
// header rules, quarantine, fragment reassembly, transport checks, the
// stateful filter, T3 rewrites), counting every drop by port and reason.
//
// One goroutine serves each direction. The pipeline's state (reassembly,
// connection tracking, quarantine accounting) is shared by both directions
// and guarded by one mutex taken once per received batch, not per frame;
// the expensive part of forwarding, the system calls that wait for and
// transmit frames, runs outside it, so both directions transmit in
// parallel. Counters are atomics the control plane reads without locking.
package dataplane
