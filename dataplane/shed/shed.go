// Package shed compiles the quarantine list into a classic BPF socket
// filter, so the kernel cuts a quarantined source's frames down to their
// headers before it copies them into a port's receive ring.
//
// Why: a flooding host sends full-size frames as fast as its CPU allows.
// Copied whole into the ring the honest hosts' frames share, they overflow
// it long before the dataplane can drop them one by one, and honest frames
// are lost with the flood. Cut to Snap bytes, a full-size flood frame takes
// about a tenth of the ring and of the copy, and still reaches the
// dataplane, which counts it and charges it to its
// source as POLICY.md Q1 requires ("dropped at the first step … and
// counted"). A frame the filter cut is never forwarded.
//
// The filter only speeds up what the dataplane decides anyway: a frame the
// program does not recognise (an unusual encapsulation, a source beyond
// MaxInstructions) arrives whole and is dropped by the quarantine check in
// user space.
package shed

import (
	"math"
	"net/netip"

	"golang.org/x/net/bpf"

	"github.com/rackwall/rackwall/dataplane/source"
)

// Snap is how many bytes of a quarantined source's frame the kernel keeps:
// the Ethernet header, one in-frame VLAN tag and an IPv6 header, enough to
// name the source again in user space.
const Snap = 64

// MaxInstructions is the kernel's limit on a classic BPF program
// (BPF_MAXINSNS).
const MaxInstructions = 4096

// accept keeps the whole frame (the kernel caps it at the frame's length).
const accept = math.MaxUint32

// Offsets in an Ethernet frame as the filter sees it. A VLAN tag the
// driver moved into packet metadata is not in the data; a tag still in the
// frame (the inner tag of QinQ, or a driver without tag offload) shifts the
// rest by four bytes.
const (
	ethHeader   = 14
	offSrcMAC   = 6
	offEthType  = 12
	vlanTagLen  = 4
	ipv4SrcOff  = 12 // in the IPv4 header
	ipv4MinLen  = 20
	ipv6SrcOff  = 8 // in the IPv6 header
	ipv6HdrLen  = 40
	etherIPv4   = 0x0800
	etherIPv6   = 0x86dd
	etherVLAN   = 0x8100
	etherQinQ   = 0x88a8
	etherQinQ91 = 0x9100
)

// Program returns a filter that cuts frames from the given sources to Snap
// bytes and keeps every other frame whole. MAC keys are matched only when
// macs is set (the rack port: frames from the uplink carry the router's
// MAC, which is never a source of its own). Keys are taken in order until
// the program would exceed MaxInstructions; used says how many made it, so
// callers list the most active sources first.
//
// A frame whose IP source lies in one of the protect prefixes
// (never_quarantine, Q2) is never cut, even when its MAC is listed. If the
// prefixes are too many to check in one program, MAC keys are left out
// rather than risk cutting a protected host.
//
// With nothing to match on the port it returns no program: the port runs
// without a filter.
func Program(keys []source.Key, macs bool, protect []netip.Prefix) (prog []bpf.RawInstruction, used int, err error) {
	var v4, v6, mac [][]byte
	var prot4, prot6 []netip.Prefix
	size := fixedCost
	for _, p := range protect {
		p = p.Masked()
		if p.Addr().Is4() {
			prot4 = append(prot4, p)
			size += 2 * protect4Cost
		} else {
			prot6 = append(prot6, p)
			size += 2 * protect6Cost
		}
	}
	if macs && size > maxProtectCost {
		macs = false
	}
	for _, k := range keys {
		var cost, n int
		var list *[][]byte
		switch k.Kind {
		case source.KindIPv4:
			cost, n, list = 2*2, 4, &v4 // two compares, at two offsets
		case source.KindIPv6:
			cost, n, list = 2*5, 8, &v6
		case source.KindMAC:
			if !macs {
				used++ // not matched on this port, but not left out
				continue
			}
			cost, n, list = 5, 6, &mac
		default:
			used++
			continue
		}
		if size+cost > MaxInstructions {
			break
		}
		size += cost
		used++
		b := k.Bytes()
		*list = append(*list, b[:n])
	}
	if len(v4)+len(v6)+len(mac) == 0 {
		return nil, used, nil
	}

	// A runt frame is left to user space (L1); every load below is within
	// the length checked before it, since an out-of-bounds load would make
	// the kernel drop the frame silently.
	var a asm
	a.lengthAtLeast(ethHeader)
	a.emit(bpf.LoadAbsolute{Off: offEthType, Size: 2})
	for _, tag := range []uint32{etherVLAN, etherQinQ, etherQinQ91} {
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: tag, SkipFalse: 1})
		a.jumpTo("tagged")
	}
	a.addresses(0, v4, v6, prot4, prot6)
	a.label("tagged")
	a.lengthAtLeast(ethHeader + vlanTagLen)
	a.emit(bpf.LoadAbsolute{Off: offEthType + vlanTagLen, Size: 2})
	a.addresses(vlanTagLen, v4, v6, prot4, prot6)

	// Last, for frames no IP rule decided: the source MAC.
	a.label("macs")
	for _, m := range mac {
		a.cutIfBoth(field{offSrcMAC, 4, be32(m[0:4])}, field{offSrcMAC + 4, 2, be16(m[4:6])})
	}
	a.emit(bpf.RetConstant{Val: accept})
	prog, err = a.assemble()
	return prog, used, err
}

// Instruction costs, for sizing a program before it is built.
const (
	fixedCost      = 64   // everything but the per-source and per-prefix checks
	protect4Cost   = 4    // per protected IPv4 prefix, at each of two offsets
	protect6Cost   = 8    // per protected IPv6 prefix, likewise
	maxProtectCost = 2048 // beyond this, MAC keys are left out (see Program)
)

// addresses judges the IP source with the ethertype in A and the IP header
// at ethHeader+shift: a protected source is accepted, a listed one cut;
// anything else goes on to the MAC checks.
func (a *asm) addresses(shift uint32, v4, v6 [][]byte, prot4, prot6 []netip.Prefix) {
	ip := ethHeader + shift
	l4, l6 := labelFor("v4", shift), labelFor("v6", shift)
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv4, SkipFalse: 1})
	a.jumpTo(l4)
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv6, SkipFalse: 1})
	a.jumpTo(l6)
	a.jumpTo("macs")

	a.label(l4)
	a.lengthAtLeast(ip + ipv4MinLen)
	src := ip + ipv4SrcOff
	for _, p := range prot4 {
		b := p.Addr().As4()
		a.emit(bpf.LoadAbsolute{Off: src, Size: 4})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask32(p.Bits())})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(b[:]), SkipFalse: 1})
		a.emit(bpf.RetConstant{Val: accept})
	}
	a.emit(bpf.LoadAbsolute{Off: src, Size: 4})
	for _, addr := range v4 {
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(addr), SkipFalse: 1})
		a.emit(bpf.RetConstant{Val: Snap})
	}
	a.jumpTo("macs")

	a.label(l6)
	a.lengthAtLeast(ip + ipv6HdrLen)
	src = ip + ipv6SrcOff
	for _, p := range prot6 {
		// Sources are /64s: protected when the prefix overlaps the
		// source's /64, so only the first 64 bits are compared.
		b := p.Addr().As16()
		bits := min(p.Bits(), 64)
		a.emit(bpf.LoadAbsolute{Off: src, Size: 4})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask32(min(bits, 32))})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(b[0:4]), SkipFalse: 4})
		a.emit(bpf.LoadAbsolute{Off: src + 4, Size: 4})
		a.emit(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask32(max(bits-32, 0))})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(b[4:8]) & mask32(max(bits-32, 0)), SkipFalse: 1})
		a.emit(bpf.RetConstant{Val: accept})
	}
	for _, p := range v6 {
		a.cutIfBoth(field{src, 4, be32(p[0:4])}, field{src + 4, 4, be32(p[4:8])})
	}
	a.jumpTo("macs")
}

// field is a value to compare with size bytes at off in the frame.
type field struct {
	off, size uint32
	val       uint32
}

// cutIfBoth cuts the frame to Snap when both fields match (a MAC address
// or an IPv6 /64 takes two loads); otherwise it falls through.
func (a *asm) cutIfBoth(x, y field) {
	a.emit(bpf.LoadAbsolute{Off: x.off, Size: int(x.size)})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: x.val, SkipFalse: 3})
	a.emit(bpf.LoadAbsolute{Off: y.off, Size: int(y.size)})
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: y.val, SkipFalse: 1})
	a.emit(bpf.RetConstant{Val: Snap})
}

// mask32 is a netmask of the given number of leading one bits.
func mask32(bits int) uint32 {
	if bits <= 0 {
		return 0
	}
	return ^uint32(0) << (32 - bits)
}

// lengthAtLeast accepts the frame whole unless it has n bytes.
func (a *asm) lengthAtLeast(n uint32) {
	a.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: n, SkipTrue: 1})
	a.emit(bpf.RetConstant{Val: accept})
}

func labelFor(proto string, shift uint32) string {
	if shift == 0 {
		return proto
	}
	return proto + "-tagged"
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}
func be16(b []byte) uint32 { return uint32(b[0])<<8 | uint32(b[1]) }
