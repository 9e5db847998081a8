package afpacket

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Queues of one interface share its frames through a PACKET_FANOUT group:
// the kernel runs the group's program on every frame and hands the frame
// to the socket of the queue it names (the program's result modulo the
// number of sockets).
//
// The mode is PACKET_FANOUT_CBPF with the program below rather than
// PACKET_FANOUT_HASH. HASH uses the skb's flow hash, which is symmetric
// when the kernel computes it but is whatever the NIC supplies when the
// NIC computes it (a Toeplitz RSS hash, usually not symmetric), so the two
// directions of a connection could land on different queues depending on
// the hardware. The program hashes source XOR destination address, and
// the two ports XOR-ed for TCP and UDP that are not fragments: the same
// value for both directions on every NIC, and the same for every fragment
// of a datagram (which carries no ports after the first). Frames that are
// not IPv4 or IPv6 after at most one VLAN tag (ARP, link control, QinQ)
// go to queue 0. The engine's correctness does not rest on this: its
// connection table and reassembler are shared by all queues. The program
// buys locality, so a flow's state stays in one core's cache.

// skfNetOff is SKF_NET_OFF: loads at this offset plus k read the network
// header, wherever the link layer left it (after the Ethernet header and
// the VLAN tag the kernel moved into metadata).
const skfNetOff = -0x100000

// netOff is k for a load of the network header's byte off: SKF_NET_OFF
// plus off as the unsigned 32-bit field the instruction carries.
func netOff(off uint32) uint32 {
	base := int32(skfNetOff)
	return uint32(base) + off
}

// Scratch slots of the fanout program.
const (
	scrHash  = 0 // the hash so far
	scrPorts = 1 // source and destination port in one word
)

// fanoutProgram returns the queue-selecting program.
func fanoutProgram() []bpf.RawInstruction {
	var a labels
	net := netOff
	xorWord := func(off uint32) { // A ^= the word at net+off, via X
		a.emit(bpf.TAX{})
		a.emit(bpf.LoadAbsolute{Off: net(off), Size: 4})
		a.emit(bpf.ALUOpX{Op: bpf.ALUOpXor})
	}
	a.emit(bpf.LoadExtension{Num: bpf.ExtProto})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IP, SkipFalse: 1})
	a.jumpTo("ipv4")
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.ETH_P_IPV6, SkipFalse: 1})
	a.jumpTo("ipv6")
	a.emit(bpf.RetConstant{Val: 0})

	// IPv4: the addresses at 12 and 16.
	a.label("ipv4")
	a.emit(bpf.LoadAbsolute{Off: net(12), Size: 4})
	xorWord(16)
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: scrHash})
	// A fragment (MF set or an offset) is hashed by its addresses alone.
	a.emit(bpf.LoadAbsolute{Off: net(6), Size: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x3fff, SkipFalse: 1})
	a.jumpTo("fold")
	a.emit(bpf.LoadAbsolute{Off: net(9), Size: 1})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_TCP, SkipTrue: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP, SkipTrue: 1})
	a.jumpTo("fold")
	// X = the header length; the ports follow it.
	a.emit(bpf.LoadAbsolute{Off: net(0), Size: 1})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0x0f})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftLeft, Val: 2})
	a.emit(bpf.TAX{})
	a.emit(bpf.LoadIndirect{Off: net(0), Size: 4})
	a.jumpTo("ports")

	// IPv6: eight address words from offset 8; ports only when the next
	// header is TCP or UDP itself (behind any extension header, the
	// fragment header included, the addresses alone decide).
	a.label("ipv6")
	a.emit(bpf.LoadAbsolute{Off: net(8), Size: 4})
	for off := uint32(12); off < 40; off += 4 {
		xorWord(off)
	}
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: scrHash})
	a.emit(bpf.LoadAbsolute{Off: net(6), Size: 1})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_TCP, SkipTrue: 2})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: unix.IPPROTO_UDP, SkipTrue: 1})
	a.jumpTo("fold")
	a.emit(bpf.LoadAbsolute{Off: net(40), Size: 4})

	// Ports: A holds both; XOR them into the hash.
	a.label("ports")
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: scrPorts})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 16})
	a.emit(bpf.TAX{})
	a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: scrPorts})
	a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 0xffff})
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpXor})
	a.emit(bpf.TAX{})
	a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: scrHash})
	a.emit(bpf.ALUOpX{Op: bpf.ALUOpXor})
	a.emit(bpf.StoreScratch{Src: bpf.RegA, N: scrHash})

	// Fold every bit into the low ones the kernel's modulo looks at.
	a.label("fold")
	a.emit(bpf.LoadScratch{Dst: bpf.RegA, N: scrHash})
	for _, sh := range []uint32{16, 8} {
		a.emit(bpf.TAX{})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: sh})
		a.emit(bpf.ALUOpX{Op: bpf.ALUOpXor})
	}
	a.emit(bpf.RetA{})
	prog, err := a.assemble()
	if err != nil {
		panic("afpacket: fanout program: " + err.Error()) // a fixed program: a bug, not an input
	}
	return prog
}

// labels collects instructions and resolves forward jumps to labels.
type labels struct {
	insns  []bpf.Instruction
	at     map[string]int
	fixups map[int]string
}

func (a *labels) emit(i bpf.Instruction) { a.insns = append(a.insns, i) }

func (a *labels) jumpTo(name string) {
	if a.fixups == nil {
		a.fixups = map[int]string{}
	}
	a.fixups[len(a.insns)] = name
	a.emit(bpf.Jump{})
}

func (a *labels) label(name string) {
	if a.at == nil {
		a.at = map[string]int{}
	}
	a.at[name] = len(a.insns)
}

func (a *labels) assemble() ([]bpf.RawInstruction, error) {
	for from, name := range a.fixups {
		to, ok := a.at[name]
		if !ok || to <= from {
			return nil, fmt.Errorf("jump to %q unresolved", name)
		}
		a.insns[from] = bpf.Jump{Skip: uint32(to - from - 1)}
	}
	return bpf.Assemble(a.insns)
}

// fanoutGroup is the fanout group the receive sockets of one interface's
// queues join. A socket reopened after the interface was re-created
// cannot join the old group (a group is bound to one device), so the
// first queue back makes a new one and the others follow it.
type fanoutGroup struct {
	mu      sync.Mutex
	id      uint16
	ifindex int // the interface the group lives on; 0 before the first join
	prog    []unix.SockFilter
}

func newFanoutGroup() *fanoutGroup {
	g := &fanoutGroup{}
	for _, in := range fanoutProgram() {
		g.prog = append(g.prog, unix.SockFilter{Code: in.Op, Jt: in.Jt, Jf: in.Jf, K: in.K})
	}
	return g
}

// join adds the bound receive socket fd on ifindex to the group, making
// the group first if there is none on that interface yet.
func (g *fanoutGroup) join(fd, ifindex int) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ifindex != ifindex || setInt(fd, unix.PACKET_FANOUT, int(g.id)|unix.PACKET_FANOUT_CBPF<<16) != nil {
		// A new group with an id the kernel picks, unused in this namespace.
		if err := setInt(fd, unix.PACKET_FANOUT, (unix.PACKET_FANOUT_CBPF|unix.PACKET_FANOUT_FLAG_UNIQUEID)<<16); err != nil {
			return fmt.Errorf("afpacket: PACKET_FANOUT: %w", err)
		}
		v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
		if err != nil {
			return fmt.Errorf("afpacket: PACKET_FANOUT id: %w", err)
		}
		g.id, g.ifindex = uint16(v), ifindex
	}
	// Set on every join: cheap, and a group the kernel made afresh under a
	// known id would otherwise have no program and send everything to
	// queue 0.
	prog := unix.SockFprog{Len: uint16(len(g.prog)), Filter: &g.prog[0]}
	_, _, e := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_PACKET, unix.PACKET_FANOUT_DATA,
		uintptr(unsafe.Pointer(&prog)), unsafe.Sizeof(prog), 0)
	if e != 0 {
		return fmt.Errorf("afpacket: PACKET_FANOUT_DATA: %w", e)
	}
	return nil
}
