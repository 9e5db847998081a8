package main

import (
	"fmt"
	"strings"
)

// generateRules writes a rules file of n rules (n ≥ 2) for the filter
// benchmark: realistic shapes — blocked source addresses, per-port pass
// rules for web and service hosts, outbound blocks — none of which matches
// the benchmark's own iperf3 traffic, so every new connection of it walks
// the whole list before the final "pass all" lets it through.
func generateRules(n int) string {
	if n < 2 {
		n = 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# %d filter rules for the rackwall benchmark (go run ./tests/bench -gen-rules %d).\n", n, n)
	b.WriteString("# First match decides; none of these matches the benchmark's traffic\n")
	b.WriteString("# (iperf3 on port 5201 between 10.77.0.1 and 10.77.0.21), so each new\n")
	b.WriteString("# connection is checked against all of them before the final rule.\n")
	body := n - 1
	blocks := body * 4 / 10
	tcpPass := body * 3 / 10
	udpPass := body * 2 / 10
	outBlocks := body - blocks - tcpPass - udpPass
	for i := 0; i < blocks; i++ {
		// 198.18.0.0/15 is reserved for benchmarking (RFC 2544).
		fmt.Fprintf(&b, "block in from 198.%d.%d.%d\n", 18+i/65536, (i/256)%256, i%256)
	}
	for i := 0; i < tcpPass; i++ {
		fmt.Fprintf(&b, "pass in proto tcp from any to 10.77.0.21 port %d\n", 10000+i)
	}
	for i := 0; i < udpPass; i++ {
		fmt.Fprintf(&b, "pass in proto udp from any to 10.77.0.22 port %d\n", 20000+i)
	}
	for i := 0; i < outBlocks; i++ {
		fmt.Fprintf(&b, "block out proto tcp from 10.77.0.23 port %d to any\n", 30000+i)
	}
	b.WriteString("pass all\n")
	return b.String()
}
