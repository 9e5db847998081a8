// Command rackwall-run builds a board's image (qemu-amd64 unless told
// otherwise), builds the rack lab with the box's bridge ports as tap
// devices, and boots the image in qemu (software emulation, OVMF) until
// Ctrl-C; then it stops qemu and tears the lab down. It needs root (network
// namespaces, taps).
//
//	rackwall-run [--board qemu-amd64] [--nic virtio] [--out out] [--http-port 8080] [--https-port 8443]
//
// Any UEFI board's image boots this way: --board n100-4x-i226 --nic e1000e
// runs the N100 box's image on emulated Intel cards (qemu has no i226).
//
// The management port (eth0) is on qemu's user networking: the box's UI is
// forwarded to localhost. The uplink (eth1) and rack (eth2) ports are wired
// into the lab: a client namespace on the uplink side, servers behind a
// switch on the rack side.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "rackwall-run:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		board     = flag.String("board", "qemu-amd64", "board to boot (a UEFI board whose management, uplink and rack ports are eth0, eth1, eth2)")
		nicName   = flag.String("nic", "virtio", "NIC model of every port: "+strings.Join(qemu.NICNames(), ", "))
		out       = flag.String("out", "out", "directory for the image, the serial log and the firmware variables")
		version   = flag.String("version", "1", "version recorded in the image (a number: updates must be newer)")
		pubkey    = flag.String("pubkey", "", "update signing public key file the box trusts (optional)")
		httpPort  = flag.Int("http-port", 8080, "localhost port forwarded to the box's port 80")
		httpsPort = flag.Int("https-port", 8443, "localhost port forwarded to the box's port 443")
	)
	flag.Parse()
	nic, err := qemu.ParseNIC(*nicName)
	if err != nil {
		return fmt.Errorf("--nic: %w", err)
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: the rack lab uses network namespaces and tap devices")
	}
	if err := qemu.Available(); err != nil {
		return err
	}
	if err := nic.Supported(); err != nil {
		return fmt.Errorf("--nic %s: %w", *nicName, err)
	}
	b, err := boards.Lookup(*board)
	if err != nil {
		return err
	}
	if b.Boot != boards.BootUEFI {
		return fmt.Errorf("--board %s: only UEFI (amd64) boards boot in qemu; build the others with rackwall-image", *board)
	}
	// qemu's cards come up as eth0, eth1, eth2 in the order management,
	// uplink, rack; a board that expects other names would find no ports.
	if b.Management.Name != "eth0" || b.Uplink.Name != "eth1" || b.Rack.Name != "eth2" {
		return fmt.Errorf("--board %s: its management, uplink and rack ports are %s, %s, %s; qemu's cards are eth0, eth1, eth2",
			*board, b.Management.Name, b.Uplink.Name, b.Rack.Name)
	}
	epoch, err := sourceDateEpoch()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	img := filepath.Join(*out, b.Name+".img")
	cfg := image.Config{Board: b, Version: *version, SourceDateEpoch: epoch, Log: os.Stderr}
	if *pubkey != "" {
		key, err := os.ReadFile(*pubkey)
		if err != nil {
			return err
		}
		cfg.UpdateKeys = map[string][]byte{filepath.Base(*pubkey): key}
	}
	if err := image.Build(cfg, img); err != nil {
		return err
	}

	l, err := lab.Build(lab.Options{})
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintf(os.Stderr, "tearing down lab %s\n", l.ID)
		if err := l.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "rackwall-run: lab teardown:", err)
		}
	}()
	uplinkTap, rackTap, err := l.UseTaps()
	if err != nil {
		return err
	}
	uplink, err := lab.OpenTap(l.BoxNS, uplinkTap)
	if err != nil {
		return err
	}
	defer uplink.Close()
	rack, err := lab.OpenTap(l.BoxNS, rackTap)
	if err != nil {
		return err
	}
	defer rack.Close()

	// Catch Ctrl-C before qemu starts so it always reaches the cleanup.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)

	vm, err := qemu.Start(qemu.Options{
		Image:   img,
		WorkDir: *out,
		Forwards: []qemu.Forward{
			{Host: *httpPort, Guest: 80},
			{Host: *httpsPort, Guest: 443},
		},
		Uplink: uplink,
		Rack:   rack,
		NIC:    nic,
		Output: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer vm.Stop()

	fmt.Printf(`rackwall is booting in qemu (software emulation; allow a minute)
  UI        https://localhost:%d/  (http://localhost:%d/ on port 80)
  health    https://localhost:%d/healthz
  metrics   https://localhost:%d/metrics
  console   tail -f %s
  lab       client %s (uplink side) -- box %s -- switch %s -- servers %s
  try       ip netns exec %s ping %s
  stop      Ctrl-C (stops qemu and removes the lab)
`, *httpsPort, *httpPort, *httpsPort, *httpsPort, vm.SerialLog,
		l.ClientNS, l.BoxNS, l.SwitchNS, strings.Join(l.ServerNS, " "),
		l.ClientNS, lab.ServerV4(1))

	go func() {
		if at, err := vm.WaitSerialForever("gokrazy build timestamp"); err == nil {
			fmt.Printf("init running after %.1f s\n", at.Seconds())
		}
	}()

	select {
	case s := <-sigs:
		fmt.Fprintf(os.Stderr, "\n%v: stopping qemu\n", s)
		vm.Stop()
		// The lab package removes its labs on SIGINT/SIGTERM by itself and
		// then ends the process; a second, concurrent teardown from here
		// would race with it. Give it time, and only then do it ourselves.
		time.Sleep(60 * time.Second)
	case <-vm.Done():
		fmt.Fprintln(os.Stderr, "qemu exited")
	}
	return nil
}

// sourceDateEpoch is $SOURCE_DATE_EPOCH, else the checkout's commit time,
// else now (a development build need not be reproducible).
func sourceDateEpoch() (int64, error) {
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		return strconv.ParseInt(s, 10, 64)
	}
	if out, err := exec.Command("git", "log", "-1", "--format=%ct").Output(); err == nil {
		return strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	}
	return time.Now().Unix(), nil
}
