package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/rackwall/rackwall/dataplane/afpacket"
)

// offloadMode is --offloads: whether the ports run with their NICs'
// offloads (afpacket.Options.VNetHdr). Auto, the default, follows the
// ports: on when either merges received frames (GRO or LRO on), since
// without it those frames would be cut in the ring and lost; off on a
// wire profile, where every frame is one wire frame.
type offloadMode uint8

const (
	offloadsAuto offloadMode = iota
	offloadsOn
	offloadsOff
)

func (m *offloadMode) String() string {
	switch *m {
	case offloadsOn:
		return "on"
	case offloadsOff:
		return "off"
	}
	return "auto"
}

// Set takes auto, on or off; true and false too, so that --offloads alone
// (a boolean flag) means on.
func (m *offloadMode) Set(s string) error {
	switch s {
	case "auto":
		*m = offloadsAuto
	case "on", "true":
		*m = offloadsOn
	case "off", "false":
		*m = offloadsOff
	default:
		return fmt.Errorf("%q: want auto, on or off", s)
	}
	return nil
}

// IsBoolFlag lets --offloads stand alone.
func (m *offloadMode) IsBoolFlag() bool { return true }

// decide resolves the mode for the two ports. Auto asks the kernel about
// each port and logs what it found; it keeps offloads off with the
// sendmmsg transmitter, which cannot carry them, and says so.
func (m offloadMode) decide(txMode string, log *slog.Logger, ports ...string) (bool, error) {
	switch m {
	case offloadsOn:
		return true, nil
	case offloadsOff:
		return false, nil
	}
	var merging []string
	var errs []error
	for _, p := range ports {
		on, err := afpacket.ReceivesAggregates(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if on {
			merging = append(merging, p)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return false, err
	}
	if len(merging) == 0 {
		return false, nil
	}
	if txMode != "ring" {
		log.Warn("ports merge received frames (GRO or LRO on) but --tx-mode sendmmsg cannot carry offloads: aggregates will be cut and dropped; turn GRO off or use the ring", "ports", merging)
		return false, nil
	}
	log.Info("ports merge received frames (GRO or LRO on): running with offloads", "ports", merging)
	return true, nil
}
