// Command rackwall-dataplane runs the bridge on two interfaces in the
// foreground: frames cross between --uplink and --rack through the
// sanitization pipeline; /metrics and the control socket are optional.
//
//	rackwall-dataplane --uplink IF --rack IF [--config FILE] [--rules FILE]
//	                   [--metrics ADDR] [--control SOCKET] [--workers N]
//
// --workers runs N packet loops (default: one per CPU), each with a queue
// of its own on both interfaces; 1 runs a single loop with no fanout.
//
// It logs one line per notable event to stderr, reloads --config and
// --rules on SIGHUP (a file with errors is refused and the running one
// stays), and exits 0 on SIGTERM or SIGINT.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/afpacket"
	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/dataplane/metrics"
	"github.com/rackwall/rackwall/dataplane/quarantine"
)

type flags struct {
	uplink, rack  string
	configPath    string
	rulesPath     string
	metricsAddr   string
	controlPath   string
	blockSize     int
	blocks        int
	blockTimeout  time.Duration
	txFrames      int
	txMode        string
	workers       int
	logLevelDebug bool
	cpuProfile    string
	offloads      offloadMode
}

// maxWorkers bounds --workers: each worker holds rings on both ports.
const maxWorkers = 256

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("rackwall-dataplane", flag.ContinueOnError)
	fs.StringVar(&f.uplink, "uplink", "", "uplink interface (toward the network)")
	fs.StringVar(&f.rack, "rack", "", "rack interface (toward the servers)")
	fs.StringVar(&f.configPath, "config", "", "policy file (default: the shipped policy)")
	fs.StringVar(&f.rulesPath, "rules", "", "filter rules file (default: pass all)")
	fs.StringVar(&f.metricsAddr, "metrics", "", "serve Prometheus /metrics on this address")
	fs.StringVar(&f.controlPath, "control", "", "serve the control API on this unix socket")
	fs.IntVar(&f.blockSize, "ring-block-size", 0, "RX ring block size in bytes (0: 64 KiB, 128 KiB with --offloads)")
	fs.IntVar(&f.blocks, "ring-blocks", 0, fmt.Sprintf("RX ring blocks per queue (0: %d divided among the workers)", afpacket.DefaultNumBlocks))
	fs.DurationVar(&f.blockTimeout, "ring-block-timeout", afpacket.DefaultBlockTimeout, "RX ring block timeout")
	fs.IntVar(&f.txFrames, "tx-frames", 0, fmt.Sprintf("TX slots per queue (0: %d divided among the workers)", afpacket.DefaultTXFrames))
	fs.IntVar(&f.workers, "workers", runtime.NumCPU(), "packet loops, each with a queue on both ports (1: no fanout)")
	fs.StringVar(&f.txMode, "tx-mode", "ring", "transmit with a TX ring (ring) or sendmmsg")
	fs.BoolVar(&f.logLevelDebug, "debug", false, "log debug lines too")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the whole run to this file on exit")
	fs.Var(&f.offloads, "offloads", "auto, on or off: run the ports with their NICs' offloads (GRO, GSO, checksum), taking frames of up to 64 KiB with their virtio_net_hdr; auto when a port has GRO or LRO on (needs --tx-mode ring; --offloads alone means on)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if f.uplink == "" || f.rack == "" {
		return f, errors.New("--uplink and --rack are required")
	}
	if f.workers < 1 || f.workers > maxWorkers {
		return f, fmt.Errorf("--workers %d: want 1 to %d", f.workers, maxWorkers)
	}
	if f.txMode != "ring" && f.txMode != "sendmmsg" {
		return f, fmt.Errorf("--tx-mode %q: want ring or sendmmsg", f.txMode)
	}
	if f.offloads == offloadsOn && f.txMode != "ring" {
		return f, errors.New("--offloads needs --tx-mode ring")
	}
	return f, nil
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	f, err := parseFlags(args)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "rackwall-dataplane:", err)
		return 2
	}
	level := slog.LevelInfo
	if f.logLevelDebug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	stopProfile, err := startCPUProfile(f.cpuProfile)
	if err != nil {
		log.Error("cannot profile", "err", err)
		return 2
	}
	defer func() {
		if err := stopProfile(); err != nil {
			log.Error("cpu profile", "file", f.cpuProfile, "err", err)
		}
	}()

	files := sources{configPath: f.configPath, rulesPath: f.rulesPath}
	pol, err := files.loadPolicy()
	if err != nil {
		log.Error("config refused", "file", f.configPath, "err", err)
		return 2
	}
	rs, err := files.loadRules()
	if err != nil {
		log.Error("rules refused", "file", f.rulesPath, "err", err)
		return 2
	}
	boundHeap(pol.FragmentMemory)
	vnet, err := f.offloads.decide(f.txMode, log, f.uplink, f.rack)
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	opts := afpacket.Options{
		BlockSize: f.blockSize, NumBlocks: f.blocks, BlockTimeout: f.blockTimeout,
		TXFrames: f.txFrames, Logger: log, VNetHdr: vnet,
	}
	if f.txMode == "sendmmsg" {
		opts.TXMode = afpacket.TXSendmmsg
	}
	e, err := dataplane.New(dataplane.Config{
		Uplink: f.uplink, Rack: f.rack, Workers: f.workers, Policy: &pol, Rules: rs, Logger: log, PortOptions: opts,
	})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	e.Quarantine().Subscribe(func(ev quarantine.Event) { logEvent(log, ev) })

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if f.metricsAddr != "" {
		if err := serveMetrics(ctx, f.metricsAddr, e, log); err != nil {
			log.Error("cannot serve metrics", "addr", f.metricsAddr, "err", err)
			return 1
		}
	}
	if f.controlPath != "" {
		srv := control.NewServer(e, log)
		if err := srv.Listen(f.controlPath); err != nil {
			log.Error("cannot serve control socket", "path", f.controlPath, "err", err)
			return 1
		}
		go srv.Serve(ctx)
	}

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				files.reload(e, log)
			}
		}
	}()

	if err := e.Run(ctx); err != nil {
		log.Error("dataplane failed", "err", err)
		return 1
	}
	return 0
}

// heapOverhead is what the Go heap may hold beyond the fragment budget: the
// connection table, the source tables, the capture ring and the runtime.
const heapOverhead = 32 << 20

// boundHeap makes the garbage collector keep the heap near what the policy
// budgets. Fragment buffers that the reassembler lets go are garbage until
// the next collection; with the default GOGC a flood could let the heap
// reach twice the fragment budget. A soft memory limit makes collection
// more eager as the heap nears budget + overhead, so RSS stays bounded by
// the policy rather than by the collector's pacing. (The AF_PACKET rings
// are mapped outside the heap and are not part of this limit.)
func boundHeap(fragmentMemory int64) {
	debug.SetMemoryLimit(fragmentMemory + heapOverhead)
}

func serveMetrics(ctx context.Context, addr string, e *dataplane.Engine, log *slog.Logger) error {
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.NewCollector(e),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return nil
}

func logEvent(log *slog.Logger, ev quarantine.Event) {
	attrs := []any{"source", ev.Key.String(), "event", ev.Kind.String()}
	if ev.By != "" {
		attrs = append(attrs, "by", ev.By)
	}
	if !ev.Until.IsZero() {
		attrs = append(attrs, "until", ev.Until.Format(time.RFC3339))
	}
	if worst := ev.Counts.Worst(); worst != 0 {
		attrs = append(attrs, "worst_reason", worst.String())
	}
	log.Warn("quarantine", attrs...)
}
