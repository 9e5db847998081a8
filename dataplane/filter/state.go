package filter

import "time"

// State is where a tracked connection stands.
type State uint8

const (
	stateFree State = iota // an unused table entry

	// TCP, following the handshake and teardown seen in both directions.
	TCPSynSent     // the originator sent a SYN
	TCPSynRecv     // the responder answered SYN+ACK
	TCPEstablished // the originator acknowledged the SYN+ACK
	TCPFinWait     // one side sent a FIN
	TCPClosing     // both sides sent a FIN, not both acknowledged yet
	TCPTimeWait    // both FINs acknowledged
	TCPClosed      // reset

	// UDP and protocols without a handshake (pf's names): SINGLE until the
	// responder answers, MULTIPLE after.
	Single
	Multiple

	// ICMPEcho is an echo request waiting for (or having had) its reply.
	ICMPEcho

	NumStates // keep last; arrays indexed by State use it
)

var stateNames = [NumStates]string{
	stateFree:      "FREE",
	TCPSynSent:     "SYN_SENT",
	TCPSynRecv:     "SYN_RECV",
	TCPEstablished: "ESTABLISHED",
	TCPFinWait:     "FIN_WAIT",
	TCPClosing:     "CLOSING",
	TCPTimeWait:    "TIME_WAIT",
	TCPClosed:      "CLOSED",
	Single:         "SINGLE",
	Multiple:       "MULTIPLE",
	ICMPEcho:       "ICMP_ECHO",
}

func (s State) String() string {
	if s >= NumStates {
		return "UNKNOWN"
	}
	return stateNames[s]
}

// timeouts: how long a connection in each state survives without a packet.
// Handshakes and teardowns are short so half-open floods drain quickly;
// established TCP is long because idle sessions (ssh, databases) are normal.
var timeouts = [NumStates]time.Duration{
	TCPSynSent:     30 * time.Second,
	TCPSynRecv:     30 * time.Second,
	TCPEstablished: 24 * time.Hour,
	TCPFinWait:     2 * time.Minute,
	TCPClosing:     2 * time.Minute,
	TCPTimeWait:    time.Minute,
	TCPClosed:      10 * time.Second,
	Single:         30 * time.Second,
	Multiple:       2 * time.Minute,
	ICMPEcho:       20 * time.Second,
}

// established reports whether a state holds a connection both sides are
// using. Those are evicted last: a flood of new connections must push out
// half-open and closing entries before it touches live sessions.
func (s State) established() bool { return s == TCPEstablished || s == Multiple }

// minIdleToEvictEstablished: an established connection is only evicted to
// make room once it has been idle this long. A table full of connections
// active within this time refuses new ones instead (ConnTableFull).
const minIdleToEvictEstablished = time.Minute

// Timeout is how long a connection in this state lives without a packet.
func (s State) Timeout() time.Duration {
	if s >= NumStates {
		return 0
	}
	return timeouts[s]
}
