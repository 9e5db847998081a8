// Package frag reassembles IPv4 and IPv6 fragments and enforces the fragment
// rules F1–F12 of POLICY.md.
//
// A datagram's original fragments are held (copied into pooled buffers) until
// the datagram is complete. The complete datagram is rebuilt in a scratch
// buffer, decoded, checked (T rules, transport checksum) and handed to the
// caller's filter as one packet; if it passes, the original fragments leave
// unchanged and in offset order. Nothing of an incomplete, overlapping or
// otherwise broken datagram ever leaves.
//
// Rules one fragment can break are checked as it arrives, in the order F2,
// F3, F4, F5, F6, F7 (the H rules are the decoder's; Reject brings their
// verdict to the datagram). The first broken rule kills the datagram and is
// remembered until the datagram's deadline, so later fragments with the same
// key are dropped under the same reason.
//
// Memory is bounded: every held buffer counts against the budget, each
// source (F12) holds at most its fair share and evicts its own oldest
// datagram when it would exceed it, and every table has a fixed upper size.
// After warm-up the hot path allocates nothing. Time comes only from the
// caller (the now arguments), so tests drive the clock.
//
// A Reassembler is not safe for concurrent use; the dataplane runs one per
// forwarding goroutine.
package frag
