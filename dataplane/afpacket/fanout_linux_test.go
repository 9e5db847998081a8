package afpacket

import (
	"encoding/binary"
	"testing"
	"time"
)

// ipFrame builds an untagged Ethernet frame with an IPv4 header (version 4
// or 6) from src to dst carrying proto; for IPv4, frag is the flags and
// fragment offset field. The 4 bytes after the ports carry a marker.
func ipFrame(v6 bool, src, dst byte, proto uint8, sport, dport uint16, frag uint16, marker uint32) []byte {
	f := []byte{0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01}
	var l4 []byte
	l4 = binary.BigEndian.AppendUint16(l4, sport)
	l4 = binary.BigEndian.AppendUint16(l4, dport)
	l4 = binary.BigEndian.AppendUint32(l4, marker)
	l4 = append(l4, make([]byte, 32)...)
	if v6 {
		f = append(f, 0x86, 0xdd, 0x60, 0, 0, 0)
		f = binary.BigEndian.AppendUint16(f, uint16(len(l4)))
		f = append(f, proto, 64)
		a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: src}
		b := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: dst}
		f = append(f, a[:]...)
		f = append(f, b[:]...)
		return append(f, l4...)
	}
	f = append(f, 0x08, 0x00, 0x45, 0)
	f = binary.BigEndian.AppendUint16(f, uint16(20+len(l4)))
	f = append(f, 0x12, 0x34)
	f = binary.BigEndian.AppendUint16(f, frag)
	f = append(f, 64, proto, 0, 0, 192, 0, 2, src, 198, 51, 100, dst)
	return append(f, l4...)
}

// markerOf returns the marker ipFrame put in f.
func markerOf(f []byte) uint32 {
	off := 14 + 20 + 4
	if binary.BigEndian.Uint16(f[12:]) == 0x86dd {
		off = 14 + 40 + 4
	}
	return binary.BigEndian.Uint32(f[off:])
}

// drainQueues collects the markers each queue receives until want frames
// have arrived or d has passed.
func drainQueues(qs []*Port, want int, d time.Duration) map[uint32]int {
	at := map[uint32]int{}
	deadline := time.Now().Add(d)
	for len(at) < want && time.Now().Before(deadline) {
		for i, q := range qs {
			if q.Wait(5 * time.Millisecond) {
				q.Receive(func(f *Frame) { at[markerOf(f.Data)] = i }, 0)
			}
		}
	}
	return at
}

// The fanout program sends both directions of a flow to queues of the
// same index on the two sides of the bridge, every fragment of a datagram
// to one queue, and spreads flows over all queues.
func TestFanoutSymmetricAndFragmentLocal(t *testing.T) {
	if !inNetns(t) {
		return
	}
	vethPair(t, "rwa", "rwb")
	vethPair(t, "rwc", "rwd")
	opts := Options{NumBlocks: 8, BlockSize: 64 << 10}
	inUp, err := Open("rwa", opts)
	if err != nil {
		t.Fatal(err)
	}
	inRack, err := Open("rwc", opts)
	if err != nil {
		t.Fatal(err)
	}
	const n = 2
	up, err := OpenQueues("rwb", n, opts)
	if err != nil {
		t.Fatal(err)
	}
	rack, err := OpenQueues("rwd", n, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range append(append([]*Port{inUp, inRack}, up...), rack...) {
			p.Close()
		}
	})

	// Flows: one frame each way, marker 2i one way and 2i+1 the other.
	const flows = 64
	for i := range flows {
		v6 := i%2 == 1
		proto := uint8(6)
		if i%3 == 0 {
			proto = 17
		}
		a, b := byte(1+i%5), byte(100+i/5)
		sp, dp := uint16(40000+i), uint16(80+i%7)
		inUp.Send(ipFrame(v6, a, b, proto, sp, dp, 0, uint32(2*i)))
		inRack.Send(ipFrame(v6, b, a, proto, dp, sp, 0, uint32(2*i+1)))
	}
	// Fragments of datagrams: the same addresses, different offsets; the
	// "ports" of later fragments are payload bytes that differ.
	const datagrams = 16
	for d := range datagrams {
		for k := range 3 {
			frag := uint16(0x2000) | uint16(k*8) // MF, offset k*64 bytes
			if k == 2 {
				frag = uint16(k * 8)
			}
			inUp.Send(ipFrame(false, byte(1+d), 200, 17, uint16(1000*k+d), uint16(7*k), frag, uint32(1000+10*d+k)))
		}
	}
	inUp.Flush()
	inRack.Flush()

	gotUp := drainQueues(up, flows+3*datagrams, 3*time.Second)
	gotRack := drainQueues(rack, flows, 3*time.Second)
	if len(gotUp) != flows+3*datagrams || len(gotRack) != flows {
		t.Fatalf("received %d and %d distinct frames, want %d and %d", len(gotUp), len(gotRack), flows+3*datagrams, flows)
	}
	used := map[int]int{}
	for i := range flows {
		q1, q2 := gotUp[uint32(2*i)], gotRack[uint32(2*i+1)]
		if q1 != q2 {
			t.Errorf("flow %d: one direction on queue %d, the other on queue %d", i, q1, q2)
		}
		used[q1]++
	}
	if len(used) != n {
		t.Errorf("%d flows all landed on queue(s) %v; the hash does not spread them", flows, used)
	}
	for d := range datagrams {
		q := gotUp[uint32(1000+10*d)]
		for k := 1; k < 3; k++ {
			if got := gotUp[uint32(1000+10*d+k)]; got != q {
				t.Errorf("datagram %d: fragment 0 on queue %d, fragment %d on queue %d", d, q, k, got)
			}
		}
	}
}
