package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// flags is the command line.
type flags struct {
	uplink, rack, mgmt string
	listen             string // the UI address; empty: the stored setting
	state              string
	runtime            string // where the dataplane's files and socket live; empty: a fresh temp folder
	plainHTTP          bool
	dataplane          string
}

func parseFlags(args []string) (flags, error) {
	var f flags
	fs := flag.NewFlagSet("rackwall", flag.ContinueOnError)
	fs.StringVar(&f.uplink, "uplink", "", "bridge port toward the network")
	fs.StringVar(&f.rack, "rack", "", "bridge port toward the servers")
	fs.StringVar(&f.mgmt, "mgmt", "", "management port (brought up; addressed by DHCP or statically)")
	fs.StringVar(&f.listen, "listen", "", "address of the web UI and API (default: the stored setting, :443)")
	fs.StringVar(&f.state, "state", "", "state folder: config, revisions, certificate (/perm/rackwall on a box)")
	fs.StringVar(&f.runtime, "runtime", "", "folder for the dataplane's policy, rules and control socket (default: a new temporary folder)")
	fs.BoolVar(&f.plainHTTP, "http", false, "serve plain HTTP instead of HTTPS (labs and tests only)")
	fs.StringVar(&f.dataplane, "dataplane", "", "rackwall-dataplane binary (default: next to this program)")
	if err := fs.Parse(args); err != nil {
		return f, err
	}
	if fs.NArg() > 0 {
		return f, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := f.check(); err != nil {
		return f, err
	}
	if f.dataplane == "" {
		exe, err := os.Executable()
		if err != nil {
			return f, fmt.Errorf("finding rackwall-dataplane next to this program: %w (use --dataplane)", err)
		}
		f.dataplane = filepath.Join(filepath.Dir(exe), "rackwall-dataplane")
	}
	return f, nil
}

// check refuses command lines no restart can fix.
func (f flags) check() error {
	switch {
	case f.uplink == "" || f.rack == "":
		return errors.New("--uplink and --rack are required")
	case f.uplink == f.rack:
		return fmt.Errorf("--uplink and --rack are both %q", f.uplink)
	case f.mgmt != "" && (f.mgmt == f.uplink || f.mgmt == f.rack):
		return fmt.Errorf("--mgmt %q is also a bridge port; the bridge ports never carry the box's own traffic", f.mgmt)
	case f.state == "":
		return errors.New("--state is required")
	}
	if f.listen != "" {
		if _, _, err := net.SplitHostPort(f.listen); err != nil {
			return fmt.Errorf("--listen %q: %w", f.listen, err)
		}
	}
	return nil
}
