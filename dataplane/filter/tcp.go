package filter

import (
	"github.com/rackwall/rackwall/dataplane/packet"
)

// TCP flag bits as in the header.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// tcpPeer is what the filter knows about one side of a TCP connection, in
// the spirit of pf's sequence tracking: a segment must fall inside the
// window its receiver could have offered, so a blind attacker who cannot
// see the traffic has to guess a 32-bit number to inject data or a reset.
type tcpPeer struct {
	isn     uint32 // initial sequence number (of this side's SYN)
	seqHi   uint32 // one past the highest sequence number this side sent
	maxEnd  uint32 // highest ack+window the other side has granted this side
	maxWin  uint32 // largest window this side advertised (scaled)
	finSeq  uint32 // sequence number of this side's FIN
	wscale  uint8
	sawWS   bool // this side's SYN carried a window scale option
	finSent bool
	finAck  bool // the other side acknowledged this side's FIN
}

// tcpSegment is what the state machine needs from a TCP packet.
type tcpSegment struct {
	flags    uint8
	seq, ack uint32
	win      uint32
	payload  uint32
	wscale   uint8
	sawWS    bool
}

// ackSlack is how far behind the sender's highest sequence an ack may lag
// beyond the largest window (pf's MAXACKWINDOW idea).
const ackSlack = 65535 + 1500

func seqLT(a, b uint32) bool  { return int32(a-b) < 0 }
func seqLEQ(a, b uint32) bool { return int32(a-b) <= 0 }
func seqMax(a, b uint32) uint32 {
	if seqLT(a, b) {
		return b
	}
	return a
}

// readSegment pulls the TCP fields from a frame, including the payload
// length and the window scale option of SYNs, which packet.Frame does not
// carry. Bounds are checked against the bytes present; a frame built
// without bytes is taken as a bare header.
func readSegment(fr *packet.Frame) tcpSegment {
	s := tcpSegment{flags: fr.TCPFlags, seq: fr.TCPSeq, ack: fr.TCPAck, win: uint32(fr.TCPWin)}
	hdr := 20
	if fr.L4Off > 0 && fr.L4Off+20 <= len(fr.Data) {
		hdr = int(fr.Data[fr.L4Off+12]>>4) * 4
		if s.flags&tcpSYN != 0 && hdr > 20 && fr.L4Off+hdr <= len(fr.Data) {
			s.wscale, s.sawWS = windowScale(fr.Data[fr.L4Off+20 : fr.L4Off+hdr])
		}
	}
	if fr.L4Len > hdr {
		s.payload = uint32(fr.L4Len - hdr)
	}
	return s
}

// windowScale finds the window scale option (kind 3) in TCP options.
func windowScale(opts []byte) (uint8, bool) {
	for i := 0; i < len(opts); {
		switch opts[i] {
		case 0:
			return 0, false
		case 1:
			i++
			continue
		}
		if i+1 >= len(opts) || opts[i+1] < 2 {
			return 0, false
		}
		l := int(opts[i+1])
		if opts[i] == 3 && l == 3 && i+2 < len(opts) {
			return min(opts[i+2], 14), true
		}
		i += l
	}
	return 0, false
}

// isPureSYN: the only segment that may open a connection.
func isPureSYN(flags uint8) bool {
	return flags&(tcpSYN|tcpACK|tcpRST|tcpFIN) == tcpSYN
}

// startTCP fills a new entry from the originator's SYN.
func startTCP(e *conn, s *tcpSegment) {
	o := &e.peer[0]
	o.isn = s.seq
	o.seqHi = s.seq + 1 + s.payload
	o.maxWin = max(s.win, 1)
	o.wscale, o.sawWS = s.wscale, s.sawWS
}

// tcpVerdict is the outcome of one segment on a tracked connection.
type tcpVerdict uint8

const (
	tcpPass    tcpVerdict = iota
	tcpInvalid            // out of window or out of order for the state
	tcpRestart            // a new SYN on a closed connection: start over
)

// trackTCP runs a segment through the state machine of entry e. fromOrig
// says which side sent it. It returns the verdict and the new state.
func trackTCP(e *conn, fromOrig bool, s *tcpSegment) (tcpVerdict, State) {
	src, dst := &e.peer[0], &e.peer[1]
	if !fromOrig {
		src, dst = dst, src
	}
	st := e.state
	syn, ack, rst, fin := s.flags&tcpSYN != 0, s.flags&tcpACK != 0, s.flags&tcpRST != 0, s.flags&tcpFIN != 0

	switch st {
	case TCPSynSent:
		switch {
		case fromOrig && isPureSYN(s.flags):
			startTCP(e, s) // retransmission, maybe with a new ISN
			return tcpPass, st
		case !fromOrig && syn && ack && !rst && !fin && s.ack == dst.seqHi:
			// SYN+ACK acknowledging exactly the originator's SYN.
			src.isn = s.seq
			src.seqHi = s.seq + 1
			src.maxWin = max(s.win, 1)
			src.wscale, src.sawWS = s.wscale, s.sawWS
			e.scaleOK = src.sawWS && dst.sawWS
			dst.maxEnd = s.ack + s.win          // the SYN+ACK window is never scaled
			src.maxEnd = s.seq + 1 + dst.maxWin // what the SYN offered
			return tcpPass, TCPSynRecv
		case !fromOrig && rst && ack && s.ack == dst.seqHi:
			return tcpPass, TCPClosed // connection refused
		}
		return tcpInvalid, st
	case TCPTimeWait, TCPClosed:
		if isPureSYN(s.flags) && fromOrig {
			return tcpRestart, st
		}
	}

	if syn {
		// Only retransmissions of the handshake are acceptable now; the
		// responder may repeat its SYN+ACK after the box saw the final ACK
		// if that ACK was lost beyond the box.
		if st == TCPSynRecv && fromOrig && isPureSYN(s.flags) && s.seq == src.isn ||
			(st == TCPSynRecv || st == TCPEstablished) && !fromOrig && ack && !rst && !fin && s.seq == src.isn {
			return tcpPass, st
		}
		return tcpInvalid, st
	}

	win := s.win
	if e.scaleOK {
		win <<= src.wscale
	}
	end := s.seq + s.payload
	if fin {
		end++
	}
	// The segment must lie in the window: not before data the receiver can
	// no longer want, not beyond what it offered (one byte of slack for
	// zero-window probes).
	lowest := src.seqHi - max(dst.maxWin, 1) - 1
	if seqLT(s.seq, lowest) || seqLT(src.maxEnd+1, end) {
		return tcpInvalid, st
	}
	if ack && (seqLT(dst.seqHi, s.ack) || seqLT(s.ack, dst.seqHi-max(src.maxWin, dst.maxWin)-ackSlack)) {
		return tcpInvalid, st
	}
	if rst {
		return tcpPass, TCPClosed
	}

	src.seqHi = seqMax(src.seqHi, end)
	src.maxWin = max(src.maxWin, win)
	if ack {
		dst.maxEnd = seqMax(dst.maxEnd, s.ack+max(win, 1))
		if dst.finSent && seqLT(dst.finSeq, s.ack) {
			dst.finAck = true
		}
	}
	if fin && !src.finSent {
		src.finSent = true
		src.finSeq = end - 1
	}

	switch {
	case st == TCPSynRecv && fromOrig && ack && s.ack == dst.seqHi && !src.finSent:
		st = TCPEstablished
	case src.finAck && dst.finAck:
		st = TCPTimeWait
	case src.finSent && dst.finSent:
		st = TCPClosing
	case src.finSent || dst.finSent:
		if st == TCPSynRecv || st == TCPEstablished {
			st = TCPFinWait
		}
	}
	return tcpPass, st
}
