// Command gsocopy is the benchmark's floor forwarder for ports that run
// with their NICs' offloads: it forwards every frame between two ports
// opened with afpacket.Options.VNetHdr, GRO aggregates and GSO frames of up
// to 64 KiB included, each with its virtio_net_hdr, through the same rings,
// batch size and transmit path as rackwall-dataplane --offloads, and does
// nothing else: no parsing, no policy, no counters. It is not a firewall.
// Beside ringcopy (the same floor with offloads off) it tells what the
// rings cost when each slot carries up to 64 KiB instead of one wire frame.
//
//	gsocopy --uplink IF --rack IF
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
	flag.Parse()
	if *uplink == "" || *rack == "" {
		fmt.Fprintln(os.Stderr, "usage: gsocopy --uplink IF --rack IF")
		os.Exit(2)
	}
	if err := run(*uplink, *rack); err != nil {
		fmt.Fprintln(os.Stderr, "gsocopy:", err)
		os.Exit(1)
	}
}

func run(uplink, rack string) error {
	opts := afpacket.Options{VNetHdr: true}
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
	fmt.Fprintf(os.Stderr, "gsocopy: copying frames with their virtio_net_hdr between %s and %s\n", uplink, rack)
	var wg sync.WaitGroup
	wg.Go(func() { copyFrames(ctx, up, rk) })
	wg.Go(func() { copyFrames(ctx, rk, up) })
	wg.Wait()
	return nil
}

// copyFrames moves what in receives to out, header and all, until ctx
// ends. Each direction has its own goroutine and is the only user of out's
// transmit ring, so no lock is taken.
func copyFrames(ctx context.Context, in, out *afpacket.Port) {
	send := func(f *afpacket.Frame) {
		if !f.Cut {
			out.SendVNet(f.VNet, f.Data) // the port counts a frame it could not queue
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
