package afpacket

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// inNamedNetns runs fn on a fresh OS thread that has joined the named
// network namespace. Sockets fn opens stay in that namespace; the thread
// is never handed back to the runtime (it ends with the goroutine).
func inNamedNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// relayStats is what a relay direction saw.
type relayStats struct {
	frames, aggregates, segments, maxLen, sendErrs, refused atomic.Uint64
	firstRefusal                                            atomic.Value // string
}

// relay copies frames from in to out with their virtio_net_hdr until ctx
// ends, and judges each header against the frame with package packet,
// as the engine does: a header the kernel hands over must never be one
// the checker refuses.
func relay(ctx context.Context, in, out *Port, st *relayStats) {
	var f packet.Frame
	fn := func(fr *Frame) {
		st.frames.Add(1)
		if n := uint64(len(fr.Data)); n > st.maxLen.Load() {
			st.maxLen.Store(n)
		}
		if r := f.Decode(fr.Data, nil); r == reason.None {
			if r := f.CheckVNetHdr(packet.VNetHdr(fr.VNet)); r != reason.None {
				if st.refused.Add(1) == 1 {
					st.firstRefusal.Store(fmt.Sprintf("%v: %+v on a %d-byte frame, proto %d, L4 at %d", r, fr.VNet, len(fr.Data), f.Proto, f.L4Off))
				}
			}
			st.segments.Add(uint64(f.Segments()))
		}
		if fr.VNet.GSOType != VNetGSONone {
			st.aggregates.Add(1)
		}
		if err := out.SendVNet(fr.VNet, fr.Data); err != nil {
			st.sendErrs.Add(1)
		}
	}
	for ctx.Err() == nil {
		if !in.Wait(20 * time.Millisecond) {
			continue
		}
		in.Receive(fn, 64)
		out.Flush()
	}
}

// streamThrough opens a TCP connection from the client namespace to the
// server namespace, sends n bytes of a known pattern and checks every
// byte arrives in order.
func streamThrough(t *testing.T, clientNS, serverNS, serverAddr string, n int) {
	t.Helper()
	var ln net.Listener
	if err := inNamedNetns(serverNS, func() (err error) {
		ln, err = net.Listen("tcp", serverAddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pattern := make([]byte, 1<<20)
	for i := range pattern {
		pattern[i] = byte(i*7 + i>>8)
	}
	got := make(chan error, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		buf := make([]byte, len(pattern))
		for read := 0; read < n; read += len(buf) {
			if _, err := io.ReadFull(c, buf); err != nil {
				got <- fmt.Errorf("after %d bytes: %w", read, err)
				return
			}
			if !bytes.Equal(buf, pattern) {
				got <- fmt.Errorf("bytes %d..%d differ from what was sent", read, read+len(buf))
				return
			}
		}
		got <- nil
	}()
	var conn net.Conn
	if err := inNamedNetns(clientNS, func() (err error) {
		d := net.Dialer{Timeout: 10 * time.Second}
		conn, err = d.Dial("tcp", serverAddr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	for sent := 0; sent < n; sent += len(pattern) {
		if _, err := conn.Write(pattern); err != nil {
			t.Fatalf("write after %d bytes: %v", sent, err)
		}
	}
	if err := <-got; err != nil {
		t.Fatalf("stream to %s: %v", serverAddr, err)
	}
}

// TestVNetRelayCarriesAggregates runs TCP between two namespaces through
// a relay on two ports opened with VNetHdr. With offloads on (TSO, GSO,
// GRO and checksum offload on every veth) the relay must see 64 KiB
// super-frames with a GSO type and segment size, every header the kernel
// hands must pass packet.CheckVNetHdr, and the stream must arrive intact
// after the frames went back out with their headers for the kernel to
// segment. With offloads off, the wire profile, every frame is one wire
// frame with no GSO, and the stream arrives just the same.
func TestVNetRelayCarriesAggregates(t *testing.T) {
	if !inNetns(t) {
		return
	}
	for _, offloads := range []bool{true, false} {
		t.Run(fmt.Sprintf("offloads=%v", offloads), func(t *testing.T) {
			vnetRelayCase(t, offloads)
		})
	}
}

func vnetRelayCase(t *testing.T, offloads bool) {
	cns, sns := fmt.Sprintf("rwgc-%d", os.Getpid()), fmt.Sprintf("rwgs-%d", os.Getpid())
	for _, ns := range []string{cns, sns} {
		sh(t, "ip netns add "+ns)
		defer sh(t, "ip netns del "+ns)
	}
	sh(t, "ip link add gc1 type veth peer name gc0 netns "+cns)
	sh(t, "ip link add gs1 type veth peer name gs0 netns "+sns)
	defer sh(t, "ip link del gc1; ip link del gs1")
	feature := "off"
	if offloads {
		feature = "on"
	}
	ethtool := "ethtool -K %s tx " + feature + " rx " + feature + " sg " + feature + " tso " + feature + " gso " + feature + " gro " + feature
	for _, c := range []struct{ ns, dev, addr4, addr6 string }{
		{"", "gc1", "", ""}, {"", "gs1", "", ""},
		{cns, "gc0", "10.77.0.1/24", "fd00:77::1/64"}, {sns, "gs0", "10.77.0.2/24", "fd00:77::2/64"},
	} {
		pre := ""
		if c.ns != "" {
			pre = "ip netns exec " + c.ns + " "
		}
		sh(t, pre+fmt.Sprintf(ethtool, c.dev))
		if c.addr4 != "" {
			sh(t, pre+"ip addr add "+c.addr4+" dev "+c.dev)
			sh(t, pre+"ip addr add "+c.addr6+" dev "+c.dev+" nodad")
			sh(t, pre+"ip link set lo up")
		} else {
			sh(t, "sysctl -qw net.ipv6.conf."+c.dev+".disable_ipv6=1")
		}
		sh(t, pre+"ip link set "+c.dev+" up")
	}
	opts := Options{VNetHdr: true}
	a, err := Open("gc1", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open("gs1", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	ctx, cancel := context.WithCancel(context.Background())
	var fwd, back relayStats
	var wg sync.WaitGroup
	wg.Go(func() { relay(ctx, a, b, &fwd) })
	wg.Go(func() { relay(ctx, b, a, &back) })
	stop := func() {
		cancel()
		wg.Wait()
	}
	defer stop() // before the ports close, also when a stream fails
	defer func() {
		if t.Failed() {
			t.Logf("relay: %d/%d frames, %d/%d aggregates, %d/%d send errors; port stats %+v / %+v",
				fwd.frames.Load(), back.frames.Load(), fwd.aggregates.Load(), back.aggregates.Load(),
				fwd.sendErrs.Load(), back.sendErrs.Load(), a.Stats(), b.Stats())
		}
	}()
	const n = 64 << 20
	streamThrough(t, cns, sns, "10.77.0.2:5001", n)
	streamThrough(t, cns, sns, "[fd00:77::2]:5001", n)
	stop()

	t.Logf("client→server: %d frames (%d aggregates, %d segments, largest %d bytes); server→client: %d frames; port stats %+v / %+v",
		fwd.frames.Load(), fwd.aggregates.Load(), fwd.segments.Load(), fwd.maxLen.Load(), back.frames.Load(), a.Stats(), b.Stats())
	for _, st := range []*relayStats{&fwd, &back} {
		if st.refused.Load() != 0 {
			t.Errorf("%d kernel headers refused by packet.CheckVNetHdr, first: %v", st.refused.Load(), st.firstRefusal.Load())
		}
		if st.sendErrs.Load() != 0 {
			t.Errorf("%d frames could not be queued", st.sendErrs.Load())
		}
	}
	// Every byte of both streams crossed in segments of at most 1448
	// bytes (the IPv4 MSS with timestamps; IPv6's is smaller): fewer
	// segments counted than that means aggregates were undercounted.
	if min := uint64(2 * n / 1448); fwd.segments.Load() < min {
		t.Errorf("%d segments counted for %d bytes of payload, want at least %d", fwd.segments.Load(), 2*n, min)
	}
	if st := a.Stats(); st.RxTruncated != 0 {
		t.Errorf("%d frames cut in the RX ring", st.RxTruncated)
	}
	if offloads {
		if fwd.aggregates.Load() == 0 || fwd.maxLen.Load() <= 1514 {
			t.Fatalf("offloads on, yet no aggregate crossed (largest frame %d bytes)", fwd.maxLen.Load())
		}
		if fwd.segments.Load() <= fwd.frames.Load() {
			t.Fatalf("%d segments in %d frames", fwd.segments.Load(), fwd.frames.Load())
		}
		return
	}
	if fwd.aggregates.Load() != 0 || back.aggregates.Load() != 0 || fwd.maxLen.Load() > 1514 {
		t.Fatalf("offloads off, yet %d aggregates, largest frame %d bytes", fwd.aggregates.Load()+back.aggregates.Load(), fwd.maxLen.Load())
	}
	if fwd.segments.Load() != fwd.frames.Load() {
		t.Fatalf("%d segments in %d wire frames", fwd.segments.Load(), fwd.frames.Load())
	}
}
