// Command rackwall-lab brings the rack lab up for hands-on work and takes it
// down again:
//
//	rackwall-lab up [--box kernel|conntrack|dataplane|taps|none] [--servers N]
//	                [--dataplane BIN] [--state FILE] [-- DATAPLANE-ARGS...]
//	rackwall-lab down [--state FILE]
//
// up records every name it made in the state file; down removes exactly
// those, so two labs on one host never touch each other.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackwall/rackwall/tests/lab"
)

func defaultState() string { return filepath.Join(os.TempDir(), "rackwall-lab.json") }

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "up":
		err = up(os.Args[2:])
	case "down":
		err = down(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwall-lab:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: rackwall-lab up [--box kernel|conntrack|dataplane|taps|none] [--servers N] [--dataplane BIN] [--state FILE] [-- DATAPLANE-ARGS...]")
	fmt.Fprintln(os.Stderr, "       rackwall-lab down [--state FILE]")
	os.Exit(2)
}

func up(args []string) error {
	fs := flag.NewFlagSet("up", flag.ExitOnError)
	box := fs.String("box", "kernel", "what joins the box's ports: kernel, conntrack, dataplane, taps or none")
	servers := fs.Int("servers", 3, "servers behind the switch")
	binary := fs.String("dataplane", "", "rackwall-dataplane binary for --box dataplane (default: build it)")
	statePath := fs.String("state", defaultState(), "state file recording what was made")
	verbose := fs.Bool("v", false, "print every command")
	fs.Parse(args)

	if _, err := os.Stat(*statePath); err == nil {
		return fmt.Errorf("%s exists: a lab is up already (rackwall-lab down --state %s)", *statePath, *statePath)
	}
	opts := lab.Options{Servers: *servers, Persistent: true}
	if *verbose {
		opts.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	l, err := lab.Build(opts)
	if err != nil {
		return err
	}
	fail := func(err error) error {
		l.Close()
		return err
	}
	var metricsURL string
	switch *box {
	case "kernel":
		err = l.UseKernelBridge()
	case "conntrack":
		err = l.UseKernelConntrack()
	case "taps":
		_, _, err = l.UseTaps()
	case "none":
	case "dataplane":
		bin := *binary
		if bin == "" {
			if bin, err = lab.BuildDataplane(l.WorkDir()); err != nil {
				return fail(err)
			}
		}
		var d *lab.Dataplane
		if d, err = l.StartDataplane(bin, fs.Args()...); err == nil {
			metricsURL = d.MetricsURL()
		}
	default:
		return fail(fmt.Errorf("--box %q: want kernel, conntrack, dataplane, taps or none", *box))
	}
	if err != nil {
		return fail(err)
	}
	st := l.Detach()
	st.MetricsURL = metricsURL
	if err := lab.WriteState(*statePath, st); err != nil {
		lab.Teardown(st, nil)
		return err
	}
	fmt.Printf("lab %s up (box: %s), state in %s\n", l.ID, st.Mode, *statePath)
	fmt.Printf("  client   %-22s %s  %s/24 %s/64\n", l.ClientNS, l.ClientIf, lab.ClientV4, lab.ClientV6)
	fmt.Printf("  box      %-22s uplink %s  rack %s\n", l.BoxNS, l.UplinkPort, l.RackPort)
	fmt.Printf("  switch   %-22s bridge %s\n", l.SwitchNS, l.SwitchBridge)
	for i, ns := range l.ServerNS {
		fmt.Printf("  s%d       %-22s %s  %s/24 %s/64\n", i+1, ns, l.ServerIf[i], lab.ServerV4(i+1), lab.ServerV6(i+1))
	}
	if st.Taps[0] != "" {
		fmt.Printf("  taps     %s %s in %s; qemu: ip netns exec %s qemu-system-x86_64 ... %s\n",
			st.Taps[0], st.Taps[1], l.BoxNS, l.BoxNS, strings.Join(l.QemuNetdevArgs(), " "))
	}
	if metricsURL != "" {
		fmt.Printf("  metrics  ip netns exec %s curl -s %s\n", l.BoxNS, metricsURL)
	}
	fmt.Printf("  try      ip netns exec %s ping %s\n", l.ClientNS, lab.ServerV4(1))
	return nil
}

func down(args []string) error {
	fs := flag.NewFlagSet("down", flag.ExitOnError)
	statePath := fs.String("state", defaultState(), "state file written by up")
	fs.Parse(args)
	st, err := lab.ReadState(*statePath)
	if err != nil {
		return err
	}
	if err := lab.Teardown(st, nil); err != nil {
		return err
	}
	if err := os.Remove(*statePath); err != nil {
		return err
	}
	fmt.Printf("lab %s down\n", st.ID)
	return nil
}
