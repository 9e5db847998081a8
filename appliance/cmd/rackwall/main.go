// Command rackwall is the appliance: the program a rackwall box boots into.
//
//	rackwall --uplink IF --rack IF --state DIR [--listen ADDR] [--mgmt IF]
//	         [--http] [--dataplane PATH] [--runtime DIR]
//
// It loads the config from the state folder (/perm/rackwall on a box; any
// folder elsewhere), makes the two bridge ports silent (up, promiscuous, no
// addresses, no IPv6), runs rackwall-dataplane as a supervised child with
// its policy and rules, keeps the rack reachable through a kernel bridge
// while the dataplane is down (fail-open, the default) or cuts it off
// (fail-closed), and serves the web UI, the API, /healthz and /metrics.
//
// It never exits because of a transient problem: interfaces that are not
// there yet, a port that cannot be bound, a dataplane that crashes are all
// retried. It exits 125, which the gokrazy supervisor does not restart, only
// when its command line is wrong, and 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

// exitMisconfigured tells gokrazy's supervisor not to restart the program:
// a restart cannot fix a wrong command line.
const exitMisconfigured = 125

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	log := slog.New(slog.NewTextHandler(logOutput(), nil))
	f, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "rackwall:", err)
		log.Error("misconfigured, not restarting", "err", err)
		return exitMisconfigured
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	a, err := newBox(f, log)
	if err != nil {
		log.Error("misconfigured, not restarting", "err", err)
		return exitMisconfigured
	}
	if err := a.run(ctx); err != nil {
		log.Error("stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// logOutput is stderr, and on a box also the console: gokrazy keeps a
// service's output in memory only, and an operator at the serial console
// should see the bypass go on and off.
func logOutput() io.Writer {
	if !onGokrazy() {
		return os.Stderr
	}
	c, err := os.OpenFile("/dev/console", os.O_WRONLY|syscall.O_NOCTTY, 0)
	if err != nil {
		return os.Stderr
	}
	return io.MultiWriter(os.Stderr, c)
}
