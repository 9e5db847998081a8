package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/rackwall/rackwall/tests/lab"
)

// sinkTable is the nftables table of the capacity part's frame sink.
const sinkTable = "rackwall_bench_sink"

// sinkRuleset drops every frame arriving on device at the netdev ingress
// hook, the first thing the kernel runs on a received frame, and counts
// those sent to dst:dport. Nothing behind the device (bridge, IP stack,
// socket, receiving process) ever runs, so the capacity figures are the
// box's alone. Each chain statement is on its own line: nft 1.0.6 reads
// that where it rejects some one-line forms.
func sinkRuleset(device string, dst netip.Addr, dport uint16) string {
	return fmt.Sprintf(`table netdev %s {
	chain ingress {
		type filter hook ingress device %q priority 0
		policy drop
		ip daddr %s udp dport %d counter
	}
}
`, sinkTable, device, dst, dport)
}

// parseSinkCounter reads the packet and byte totals of the one counter in
// `nft list table netdev rackwall_bench_sink`.
func parseSinkCounter(listing string) (packets, bytes uint64, err error) {
	f := strings.Fields(listing)
	for i := 0; i+4 < len(f); i++ {
		if f[i] != "counter" || f[i+1] != "packets" || f[i+3] != "bytes" {
			continue
		}
		if packets, err = strconv.ParseUint(f[i+2], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("nft counter packets %q: %w", f[i+2], err)
		}
		if bytes, err = strconv.ParseUint(f[i+4], 10, 64); err != nil {
			return 0, 0, fmt.Errorf("nft counter bytes %q: %w", f[i+4], err)
		}
		return packets, bytes, nil
	}
	return 0, 0, fmt.Errorf("no counter in nft listing: %q", strings.TrimSpace(listing))
}

// sink is the frame sink installed on the switch's port facing the box.
type sink struct {
	l    *lab.Lab
	port lab.Port
}

func installSink(l *lab.Lab, dst netip.Addr, dport uint16) (*sink, error) {
	s := &sink{l: l, port: lab.Port{NS: l.SwitchNS, If: l.SwitchUplink}}
	if _, err := l.ExecStdin(s.port.NS, sinkRuleset(s.port.If, dst, dport), "nft", "-f", "-"); err != nil {
		return nil, err
	}
	return s, nil
}

// frames is how many frames for dst:dport have reached the sink so far.
func (s *sink) frames() (uint64, error) {
	out, err := s.l.Exec(s.port.NS, "nft", "list", "table", "netdev", sinkTable)
	if err != nil {
		return 0, err
	}
	n, _, err := parseSinkCounter(string(out))
	return n, err
}

func (s *sink) remove() error {
	_, err := s.l.Exec(s.port.NS, "nft", "delete", "table", "netdev", sinkTable)
	return err
}
