// Package shed compiles the quarantine list into a classic BPF socket
// filter, so the kernel cuts a quarantined source's frames down to their
// headers before it copies them into a port's receive ring.
//
// Why: a flooding host sends full-size frames as fast as its CPU allows.
// Every one of them used to be copied whole into the ring the honest hosts'
// frames share, and the ring overflowed long before the dataplane could
// drop them one by one: honest frames were lost with the flood. Cut to
// Snap bytes, a flood frame takes a twentieth of the ring and of the copy,
// and still reaches the dataplane, which counts it and charges it to its
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
// With no keys the program accepts everything, which is the same as no
// filter.
func Program(keys []source.Key, macs bool) (prog []bpf.RawInstruction, used int, err error) {
	var a asm
	var v4, v6 [][]byte
	var mac [][]byte
	// Size the program as keys are added; the fixed part is well under
	// 64 instructions.
	const fixed = 64
	size := fixed
	for _, k := range keys {
		var cost int
		switch k.Kind {
		case source.KindIPv4:
			cost = 2 * 2 // two compares, at two offsets
		case source.KindIPv6:
			cost = 2 * 5
		case source.KindMAC:
			if !macs {
				used++ // nothing to match on this port, but not left out
				continue
			}
			cost = 5
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
		switch k.Kind {
		case source.KindIPv4:
			v4 = append(v4, b[:4])
		case source.KindIPv6:
			v6 = append(v6, b[:8])
		case source.KindMAC:
			mac = append(mac, b[:6])
		}
	}

	// A runt frame is left to user space (L1); every load below is within
	// the length checked before it, since an out-of-bounds load would make
	// the kernel drop the frame silently.
	a.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ethHeader, SkipTrue: 1})
	a.emit(bpf.RetConstant{Val: accept})

	for _, m := range mac {
		a.emit(bpf.LoadAbsolute{Off: offSrcMAC, Size: 4})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(m[0:4]), SkipFalse: 3})
		a.emit(bpf.LoadAbsolute{Off: offSrcMAC + 4, Size: 2})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be16(m[4:6]), SkipFalse: 1})
		a.emit(bpf.RetConstant{Val: Snap})
	}
	if len(v4) == 0 && len(v6) == 0 {
		a.emit(bpf.RetConstant{Val: accept})
		prog, err = a.assemble()
		return prog, used, err
	}

	a.emit(bpf.LoadAbsolute{Off: offEthType, Size: 2})
	for _, tag := range []uint32{etherVLAN, etherQinQ, etherQinQ91} {
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: tag, SkipFalse: 1})
		a.jumpTo("tagged")
	}
	a.addresses(0, v4, v6)
	a.label("tagged")
	a.emit(bpf.LoadExtension{Num: bpf.ExtLen})
	a.emit(bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: ethHeader + vlanTagLen, SkipTrue: 1})
	a.emit(bpf.RetConstant{Val: accept})
	a.emit(bpf.LoadAbsolute{Off: offEthType + vlanTagLen, Size: 2})
	a.addresses(vlanTagLen, v4, v6)
	prog, err = a.assemble()
	return prog, used, err
}

// addresses matches the IP source with the ethertype in A and the IP
// header at ethHeader+shift. Every path ends in a return.
func (a *asm) addresses(shift uint32, v4, v6 [][]byte) {
	ip := ethHeader + shift
	l4, l6 := labelFor("v4", shift), labelFor("v6", shift)
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv4, SkipFalse: 1})
	a.jumpTo(l4)
	a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv6, SkipFalse: 1})
	a.jumpTo(l6)
	a.emit(bpf.RetConstant{Val: accept})

	a.label(l4)
	a.lengthAtLeast(ip + ipv4MinLen)
	a.emit(bpf.LoadAbsolute{Off: ip + ipv4SrcOff, Size: 4})
	for _, addr := range v4 {
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(addr), SkipFalse: 1})
		a.emit(bpf.RetConstant{Val: Snap})
	}
	a.emit(bpf.RetConstant{Val: accept})

	a.label(l6)
	a.lengthAtLeast(ip + ipv6HdrLen)
	for _, p := range v6 {
		a.emit(bpf.LoadAbsolute{Off: ip + ipv6SrcOff, Size: 4})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(p[0:4]), SkipFalse: 3})
		a.emit(bpf.LoadAbsolute{Off: ip + ipv6SrcOff + 4, Size: 4})
		a.emit(bpf.JumpIf{Cond: bpf.JumpEqual, Val: be32(p[4:8]), SkipFalse: 1})
		a.emit(bpf.RetConstant{Val: Snap})
	}
	a.emit(bpf.RetConstant{Val: accept})
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
