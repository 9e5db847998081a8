// Command ringcopy forwards every frame between two ports through the same
// AF_PACKET rings, batch size and transmit path as rackwall-dataplane, and
// does nothing else: no parsing, no policy, no counters. It is not a
// firewall. The benchmark runs it as a box of its own so the report can
// tell the cost of moving frames through the rings, which any forwarder
// built on them pays, from the cost of rackwall's pipeline on top.
//
// With --vnet-hdr the ports are opened with afpacket.Options.VNetHdr, as
// rackwall-dataplane --offloads opens them: a slot then carries a GRO
// aggregate or GSO frame of up to 64 KiB with its virtio_net_hdr, and the
// copy is the floor for ports that run with their NICs' offloads.
//
//	ringcopy [--vnet-hdr] --uplink IF --rack IF
//
// It runs in the foreground and exits 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/dataplane/afpacket"
)

// batchFrames matches the dataplane's batch: frames taken from the receive
// ring before one flush of the transmit ring.
const batchFrames = 64

func main() {
	uplink := flag.String("uplink", "", "uplink port")
	rack := flag.String("rack", "", "rack port")
	vnetHdr := flag.Bool("vnet-hdr", false, "carry GRO aggregates and GSO frames with their virtio_net_hdr")
	flag.Parse()
	if *uplink == "" || *rack == "" {
		fmt.Fprintln(os.Stderr, "usage: ringcopy [--vnet-hdr] --uplink IF --rack IF")
		os.Exit(2)
	}
	if err := run(*uplink, *rack, afpacket.Options{VNetHdr: *vnetHdr}); err != nil {
		fmt.Fprintln(os.Stderr, "ringcopy:", err)
		os.Exit(1)
	}
}

func run(uplink, rack string, opts afpacket.Options) error {
	up, err := afpacket.Open(uplink, opts)
	if err != nil {
		return err
	}
	defer up.Close()
	rk, err := afpacket.Open(rack, opts)
	if err != nil {
		return err
	}
	defer rk.Close()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fmt.Fprintf(os.Stderr, "ringcopy: copying frames between %s and %s (virtio_net_hdr %v)\n", uplink, rack, opts.VNetHdr)
	var wg sync.WaitGroup
	wg.Go(func() { copyFrames(ctx, up, rk, opts.VNetHdr) })
	wg.Go(func() { copyFrames(ctx, rk, up, opts.VNetHdr) })
	wg.Wait()
	return nil
}

// copyFrames moves what in receives to out, with its virtio_net_hdr when
// the ports carry one, until ctx ends. Each direction has its own goroutine
// and is the only user of out's transmit ring, so no lock is taken.
func copyFrames(ctx context.Context, in, out *afpacket.Port, vnetHdr bool) {
	send := func(f *afpacket.Frame) {
		switch {
		case f.Cut:
		case vnetHdr:
			out.SendVNet(f.VNet, f.Data) // the port counts a frame it could not queue
		default:
			out.Send(f.Data)
		}
	}
	for ctx.Err() == nil {
		if !in.Wait(100 * time.Millisecond) {
			continue
		}
		for ctx.Err() == nil {
			n := in.Receive(send, batchFrames)
			out.Flush()
			if n < batchFrames {
				break
			}
		}
	}
}
