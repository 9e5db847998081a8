package tests

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/tests/lab"
)

// benchRules writes a rules file of exactly n rules (n ≥ 5) shaped like a
// grown production file: blocklists of IPv4 and IPv6 prefixes, service
// rules for other racks with port lists and ranges, resolver and NTP
// access, outbound mail blocks — and, deep at the end, the web rules of
// testdata/firewall/web.rules. None of the filler matches the lab's
// traffic, so the client's connection to 10.77.0.21:5201 is decided by
// rule n-4.
func benchRules(n int) string {
	tailRules := []string{
		"pass in proto tcp from any to <web> port { 80, 443, 5201 }",
		"pass in proto icmp",
		"pass in proto ipv6-icmp",
		"block in quick from 203.0.113.0/24",
		"pass out all",
	}
	filler := n - len(tailRules)
	var b strings.Builder
	fmt.Fprintf(&b, "# %d rules: blocklists, other racks' services, then the web rack.\n", n)
	b.WriteString("set default block\n")
	b.WriteString("table <web> { 10.77.0.21, 10.77.0.22, fd77::/64 }\n")
	b.WriteString("table <resolvers> { 10.80.0.53, 10.80.1.53, fd80::53 }\n")
	for i := 0; i < filler; i++ {
		switch k := i % 8; k {
		case 0, 1: // blocklisted networks, IPv4
			fmt.Fprintf(&b, "block in from 198.18.%d.%d/28\n", (i/16)%256, (i%16)*16)
		case 2: // blocklisted networks, IPv6
			fmt.Fprintf(&b, "block in inet6 from 2001:db8:%x::/48\n", i)
		case 3: // another rack's web and admin ports
			fmt.Fprintf(&b, "pass in proto tcp from any to 10.78.%d.%d port { 22, 80, 443, 8000:8099 }\n", i/250, i%250+1)
		case 4: // a service reachable from one office network only
			fmt.Fprintf(&b, "pass in proto tcp from 172.16.%d.0/24 to 10.79.%d.0/24 port { 3306, 5432, 6379 }\n", i%256, i/256)
		case 5: // resolvers and time for a client network
			fmt.Fprintf(&b, "pass in proto udp from 100.64.%d.0/24 to <resolvers> port { 53, 123 }\n", i%256)
		case 6: // no mail straight out of the rack
			fmt.Fprintf(&b, "block out proto tcp from any to 192.0.2.%d port { 25, 465, 587 }\n", i%256)
		case 7: // a monitoring host may ping one rack host
			fmt.Fprintf(&b, "pass in proto icmp from 10.90.0.%d to 10.78.%d.%d icmp-type echoreq\n", i%250+1, i/250, i%250+1)
		}
	}
	for _, r := range tailRules {
		b.WriteString(r + "\n")
	}
	return b.String()
}

func TestFirewallBenchRulesShape(t *testing.T) {
	text := benchRules(1000)
	rs, err := rules.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs.Rules) != 1000 {
		t.Fatalf("%d rules, want 1000", len(rs.Rules))
	}
	// The measured traffic: the client's SYN to s1:5201 and its ping.
	syn := rules.Packet{Dir: rules.DirIn, Src: lab.ClientV4, Dst: lab.ServerV4(1), Proto: 6, SrcPort: 40000, DstPort: 5201}
	if i := rs.Match(&syn); i != 995 {
		t.Errorf("the iperf3 SYN matches rule %d, want 995 (the web rule, deep in the set)", i)
	}
	ping := rules.Packet{Dir: rules.DirIn, Src: lab.ClientV4, Dst: lab.ServerV4(1), Proto: 1, ICMPType: 8}
	if i := rs.Match(&ping); i != 996 {
		t.Errorf("the client's ping matches rule %d, want 996", i)
	}
	blocked := rules.Packet{Dir: rules.DirIn, Src: netip.MustParseAddr("198.18.3.20"), Dst: lab.ServerV4(1), Proto: 6, SrcPort: 40000, DstPort: 5201}
	if rs.Decide(&blocked) != rules.Block {
		t.Errorf("a blocklisted source is not blocked")
	}
	if sh := rs.Shadowed(); len(sh) != 0 {
		t.Errorf("generated rules shadow each other: %v", sh)
	}
}

// TCP throughput through rackwall holding 1,000 rules against the kernel
// bridge on the same lab in the same run. A measurement, not a verdict:
// it only runs with RACKWALL_BENCH=1 and prints what it saw.
func TestFirewallThroughputWith1000Rules(t *testing.T) {
	if os.Getenv("RACKWALL_BENCH") != "1" {
		t.Skip("measurement: set RACKWALL_BENCH=1 to run")
	}
	l := newLab(t, 1, "iperf3")
	dir := tempDir(t, l, "bench-rules")
	many := filepath.Join(dir, "rules-1000.rules")
	if err := os.WriteFile(many, []byte(benchRules(1000)), 0o644); err != nil {
		t.Fatal(err)
	}
	web, err := filepath.Abs(filepath.Join("testdata", "firewall", "web.rules"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.IperfServer(l.Server(1), 5201); err != nil {
		t.Fatal(err)
	}
	s1 := lab.ServerV4(1).String()
	// The median of three runs per box damps the noise of a shared host.
	measure := func(name string) float64 {
		var runs []float64
		for range 3 {
			r, err := l.Iperf(l.ClientNS, s1, "-p", "5201", "-t", "4")
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			runs = append(runs, r.Received)
		}
		slices.Sort(runs)
		t.Logf("%-26s %6.0f Mbit/s (runs %.0f, %.0f, %.0f)", name, runs[1]/1e6, runs[0]/1e6, runs[1]/1e6, runs[2]/1e6)
		return runs[1]
	}

	if err := l.UseKernelBridge(); err != nil {
		t.Fatal(err)
	}
	kernel := measure("kernel bridge")
	if err := l.ResetBox(); err != nil {
		t.Fatal(err)
	}
	dpFew := startDataplane(t, l, "--rules", web)
	stopExplaining := explainOnFailure(t, dpFew)
	few := measure("rackwall, 5 rules")
	stopExplaining()
	if err := l.ResetBox(); err != nil {
		t.Fatal(err)
	}
	dp := startDataplane(t, l, "--rules", many)
	defer explainFailure(t, dp, nil)
	thousand := measure("rackwall, 1000 rules")
	if d := dropDelta(nil, dropSnapshot(t, dp)); d["filter_blocked"] != 0 || d["conn_invalid"] != 0 {
		t.Logf("filter drops during the 1000-rule runs: %v", d)
	}
	t.Logf("rackwall with 1000 rules / kernel bridge = %.2f; with 5 rules / kernel bridge = %.2f; 1000 rules / 5 rules = %.2f",
		thousand/kernel, few/kernel, thousand/few)
}

// explainOnFailure logs dp's drops and output if the test fails before the
// returned function is called (which is when dp is about to be stopped).
func explainOnFailure(t *testing.T, dp *lab.Dataplane) (stop func()) {
	done := false
	t.Cleanup(func() {
		if !done {
			explainFailure(t, dp, nil)
		}
	})
	return func() { done = true }
}
