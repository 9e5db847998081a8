package lab

import (
	"slices"
	"testing"
)

func frame(dstMAC, srcMAC byte, etype uint16, payload []byte) []byte {
	b := []byte{2, 0, 0, 0, 0, dstMAC, 2, 0, 0, 0, 0, srcMAC, byte(etype >> 8), byte(etype)}
	return append(b, payload...)
}

func ipv4(src, dst [4]byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	copy(h[12:], src[:])
	copy(h[16:], dst[:])
	return h
}

func TestSplitBySideByMAC(t *testing.T) {
	a, b, far := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, [4]byte{192, 0, 2, 9}
	mcast := [4]byte{224, 0, 0, 1}
	pkts := []Packet{
		{Data: frame(2, 1, 0x0800, ipv4(a, b))},        // host 1 -> router 2: 1 is side 0, 2 side 1
		{Data: frame(1, 2, 0x0800, ipv4(b, a))},        // reply
		{Data: frame(0xff, 2, 0x0800, ipv4(b, mcast))}, // router to a group: router's side
		{Data: frame(2, 1, 0x0800, ipv4(a, far))},      // host to a far address, through the router
		{Data: frame(1, 2, 0x0800, ipv4(b, a))},        // router's error back: against the request
		{Data: frame(8, 9, 0x0806, make([]byte, 28))},  // new hosts: 9 first seen sending
		{Data: frame(9, 8, 0x0806, make([]byte, 28))},
	}
	want := []int{0, 1, 1, 0, 1, 0, 1}
	if got := SplitBySide(pkts); !slices.Equal(got, want) {
		t.Fatalf("sides %v, want %v", got, want)
	}
}

func TestSplitBySideByIPWhenOneMAC(t *testing.T) {
	a, b, c := [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, [4]byte{10, 0, 0, 3}
	// Every frame has the same MACs (a capture converted from raw IP):
	// the IP addresses tell the ends apart.
	tagged := frame(2, 1, 0x8100, append([]byte{0, 10, 0x08, 0x00}, ipv4(b, a)...))
	pkts := []Packet{
		{Data: frame(2, 1, 0x0800, ipv4(a, b))},
		{Data: frame(2, 1, 0x0800, ipv4(b, a))},
		{Data: frame(2, 1, 0x0800, ipv4(c, b))},
		{Data: tagged},
	}
	want := []int{0, 1, 0, 1}
	if got := SplitBySide(pkts); !slices.Equal(got, want) {
		t.Fatalf("sides %v, want %v", got, want)
	}
}
