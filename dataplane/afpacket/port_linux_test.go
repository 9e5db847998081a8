package afpacket

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"
)

// testFrame builds an Ethernet frame carrying a marker, optionally with one
// 802.1Q tag, padded to n bytes.
func testFrame(marker uint32, vlan uint16, n int) []byte {
	f := make([]byte, 0, n)
	f = append(f, 0x02, 0, 0, 0, 0, 0x02) // dst
	f = append(f, 0x02, 0, 0, 0, 0, 0x01) // src
	if vlan != 0 {
		f = append(f, 0x81, 0x00, byte(vlan>>8), byte(vlan))
	}
	f = append(f, 0x88, 0xb5) // local experimental ethertype
	f = binary.BigEndian.AppendUint32(f, marker)
	for len(f) < n {
		f = append(f, byte(len(f)))
	}
	return f
}

// collect waits up to d for want frames on p and returns copies of them.
func collect(p *Port, want int, d time.Duration) [][]byte {
	var got [][]byte
	deadline := time.Now().Add(d)
	for len(got) < want && time.Now().Before(deadline) {
		if p.Wait(20 * time.Millisecond) {
			p.Receive(func(f *Frame) { got = append(got, bytes.Clone(f.Data)) }, 0)
		}
	}
	return got
}

func openPair(t *testing.T, opts Options) (a, b *Port) {
	t.Helper()
	vethPair(t, "rwa", "rwb")
	var err error
	if a, err = Open("rwa", opts); err != nil {
		t.Fatal(err)
	}
	if b, err = Open("rwb", opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func TestPortRoundTrip(t *testing.T) {
	if !inNetns(t) {
		return
	}
	for _, mode := range []TXMode{TXRing, TXSendmmsg} {
		t.Run(mode.String(), func(t *testing.T) {
			a, b := openPair(t, Options{TXMode: mode, NumBlocks: 16, BlockSize: 64 << 10})
			defer sh(t, "ip link del rwa")
			var sent [][]byte
			for i := 0; i < 500; i++ {
				var vlan uint16
				if i%3 == 0 {
					vlan = uint16(100 + i%7)
				}
				f := testFrame(uint32(i), vlan, 60+i%1400)
				sent = append(sent, f)
				if err := a.Send(f); err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
				if i%50 == 49 {
					a.Flush()
				}
			}
			a.Flush()
			got := collect(b, len(sent), 3*time.Second)
			if len(got) != len(sent) {
				t.Fatalf("received %d of %d frames (receiver %+v)", len(got), len(sent), b.Stats())
			}
			for i := range sent {
				if !bytes.Equal(got[i], sent[i]) {
					t.Fatalf("frame %d differs:\n got %x\nwant %x", i, got[i], sent[i])
				}
			}
			// What a port transmits is never read back on that port.
			if echo := collect(a, 1, 200*time.Millisecond); len(echo) != 0 {
				t.Fatalf("port read back %d of its own frames", len(echo))
			}
			if st := a.Stats(); st.TxFrames != 500 || st.TxDropped != 0 {
				t.Fatalf("sender stats %+v", st)
			}
			if st := b.Stats(); st.RxFrames != 500 {
				t.Fatalf("receiver stats %+v", st)
			}
		})
	}
}

func TestPortSurvivesLinkEvents(t *testing.T) {
	if !inNetns(t) {
		return
	}
	a, b := openPair(t, Options{NumBlocks: 4, BlockSize: 64 << 10})
	exchange := func(stage string, marker uint32) {
		t.Helper()
		f := testFrame(marker, 0, 100)
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			a.Send(f)
			a.Flush()
			for _, g := range collect(b, 1, 100*time.Millisecond) {
				if bytes.Equal(g, f) {
					return
				}
			}
		}
		t.Fatalf("%s: no frame crossed within 5s (a up=%v b up=%v)", stage, a.LinkUp(), b.LinkUp())
	}
	exchange("initially", 1)

	sh(t, "ip link set rwb down")
	collect(b, 1, 300*time.Millisecond) // let the port notice
	if b.LinkUp() {
		t.Fatal("link still reported up after ip link set down")
	}
	sh(t, "ip link set rwb up")
	exchange("after down/up", 2)

	sh(t, "ip link del rwa")
	collect(b, 1, 1500*time.Millisecond)
	a.Send(testFrame(3, 0, 100)) // into the void: must not panic or block
	a.Flush()
	vethPair(t, "rwa", "rwb")
	exchange("after delete and re-create", 4)
	if b.Stats().Reopens == 0 {
		t.Fatal("receiver did not reopen on the re-created interface")
	}
	sh(t, "ip link del rwa")
}
