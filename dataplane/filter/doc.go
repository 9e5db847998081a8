// Package filter is the box's stateful firewall: it compiles a
// rules.RuleSet into lookup structures and tracks connections, and answers
// pass or drop (with a reason.Reason) for each IP packet. It enforces the
// filter rules of docs/POLICY.md: FW1 (the rules and the default policy
// decide whether a connection may start: reason.FilterBlocked), FW2 (a
// packet must belong to a tracked connection it fits: reason.ConnInvalid)
// and FW3 (the connection table and each source's rate of new connections
// are bounded: reason.ConnTableFull, reason.ConnRateLimited).
//
// # Rules and state (FW1, FW2)
//
// The rules decide whether a connection may start (quick rules first, then
// first match; see package rules). Once a packet starts a connection, the
// connection is tracked and every later packet of it, in either direction,
// passes on the strength of the tracked state without looking at the
// rules: a rule "pass out all" lets replies come back in, and "block in
// from X" does not cut a connection a rack host opened to X.
//
//   - TCP opens only with a SYN. A SYN+ACK, ACK, FIN or RST that belongs
//     to no tracked connection and that a pass rule matches is dropped as
//     reason.ConnInvalid (an unsolicited reply or a scan). Under the default
//     pass policy such a packet passes untracked, so a freshly installed box
//     is a wire and connections older than the box's last start survive.
//   - TCP is followed through SYN_SENT, SYN_RECV, ESTABLISHED, FIN_WAIT,
//     CLOSING, TIME_WAIT and CLOSED. Every segment must lie within the
//     window its receiver offered (window scaling honoured) and acknowledge
//     nothing never sent; otherwise it is ConnInvalid. A blind attacker
//     therefore has to guess the sequence number to inject data or a reset.
//   - UDP and other protocols are pseudo-connections by address and port
//     (or address pair): SINGLE until the responder answers, MULTIPLE
//     after. ICMP and ICMPv6 echo requests open a pseudo-connection keyed
//     by the echo identifier that the reply matches.
//   - ICMP and ICMPv6 errors (destination unreachable, packet too big, time
//     exceeded, parameter problem) that quote a packet of a tracked
//     connection, travel against that packet's direction and are addressed
//     to its sender pass (for TCP the quoted sequence number must be in
//     window). Errors about nothing tracked, and other ICMP (neighbour
//     discovery and the like), are judged by the rules and create no state.
//   - A packet that claims to come from one side of a connection but
//     arrives on the other port is ConnInvalid.
//
// Each state has its own idle timeout (State.Timeout); Expire removes what
// has timed out.
//
// # Bounds (FW3)
//
// The table holds config.Policy.MaxConnections entries, allocated by New.
// When it is full, a new connection evicts the oldest idle entry that is not
// established (half-open, closing, unanswered), then the oldest idle
// established one if that has been idle at least a minute; if nothing may
// go, the new connection is refused with reason.ConnTableFull. Each source
// (POLICY.md F12) may open ConnRate new connections per second with bursts
// of ConnBurst; beyond that, reason.ConnRateLimited, which counts toward
// quarantine like every violation.
//
// # Reload
//
// Load swaps in a new rule set atomically. A tracked connection made under
// older rules is re-checked on its next packet: its first packet, replayed
// against the new rules, must still pass, or the connection is removed and
// the packet dropped as reason.FilterBlocked.
//
// # Cost
//
// Judging a packet allocates nothing: the connection table (about 140
// bytes per entry with its index) and the per-source rate buckets are
// preallocated open-addressing tables, and the compiled rules are
// read-only. Rules are compiled in the order they are checked (quick rules
// first), split by family, direction and protocol, and each rule is indexed
// under its most selective part (destination prefixes, source prefixes,
// destination or source ports); a lookup checks only the candidates those
// indexes return, earliest in that order first, so its cost follows
// the number of rules that could match the packet rather than the length of
// the rules file.
//
// Connections are keyed by addresses, ports (or echo identifier), protocol
// and the innermost VLAN ID, so overlapping address plans on different
// VLANs do not mix.
package filter
