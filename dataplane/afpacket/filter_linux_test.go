package afpacket

import (
	"bytes"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/shed"
	"github.com/rackwall/rackwall/dataplane/source"
)

// The kernel runs the port's socket filter: frames from the listed source
// arrive cut to shed.Snap bytes and marked Cut, the others whole; removing
// the filter brings whole frames back.
func TestPortSocketFilterCuts(t *testing.T) {
	if !inNetns(t) {
		return
	}
	a, b := openPair(t, Options{NumBlocks: 16, BlockSize: 64 << 10})
	defer sh(t, "ip link del rwa")
	flooder := source.FromMAC([6]byte{0x02, 0, 0, 0, 0, 0x01}) // testFrame's source
	prog, _, err := shed.Program([]source.Key{flooder}, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.SetFilter(prog, shed.Snap)

	send := func(n int) (sent [][]byte) {
		for i := 0; i < n; i++ {
			f := testFrame(uint32(i), 0, 1000)
			if i%2 == 1 {
				f[11] = 0x09 // another host
			}
			sent = append(sent, f)
			if err := a.Send(f); err != nil {
				t.Fatal(err)
			}
		}
		a.Flush()
		return sent
	}
	type got struct {
		data []byte
		cut  bool
	}
	receive := func(want int) []got {
		var out []got
		deadline := time.Now().Add(3 * time.Second)
		for len(out) < want && time.Now().Before(deadline) {
			if b.Wait(20 * time.Millisecond) {
				b.Receive(func(f *Frame) { out = append(out, got{bytes.Clone(f.Data), f.Cut}) }, 0)
			}
		}
		return out
	}

	b.Wait(time.Millisecond) // the receiving side installs the filter
	sent := send(100)
	frames := receive(len(sent))
	if len(frames) != len(sent) {
		t.Fatalf("received %d of %d frames (%+v)", len(frames), len(sent), b.Stats())
	}
	for i, f := range frames {
		if i%2 == 0 {
			if !f.cut || !bytes.Equal(f.data, sent[i][:shed.Snap]) {
				t.Fatalf("frame %d from the listed source: cut %v, %d bytes", i, f.cut, len(f.data))
			}
		} else if f.cut || !bytes.Equal(f.data, sent[i]) {
			t.Fatalf("frame %d from another host: cut %v, %d bytes", i, f.cut, len(f.data))
		}
	}
	if st := b.Stats(); st.RxCut != 50 || st.RxTruncated != 0 {
		t.Fatalf("stats %+v", st)
	}

	b.SetFilter(nil, 0)
	b.Wait(time.Millisecond)
	sent = send(10)
	frames = receive(len(sent))
	for i, f := range frames {
		if f.cut || !bytes.Equal(f.data, sent[i]) {
			t.Fatalf("after removing the filter, frame %d: cut %v, %d bytes", i, f.cut, len(f.data))
		}
	}
	if len(frames) != len(sent) {
		t.Fatalf("after removing the filter: %d of %d frames", len(frames), len(sent))
	}
}
