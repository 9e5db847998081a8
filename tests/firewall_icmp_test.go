package tests

import (
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// With testdata/firewall/no-icmp-out.rules no rule lets a server's ICMP
// errors out, so the port unreachable a server answers an allowed UDP
// datagram with reaches the client only through the filter's tracking of
// that datagram; the same error about a flow nobody opened is judged by
// the rules and dropped.
func TestFirewallICMPErrorsOfTrackedFlows(t *testing.T) {
	fw := startFirewall(t, "no-icmp-out.rules", 1, "tcpdump", "tcpreplay")
	l := fw.l
	defer explainFailure(t, fw.dp, nil)

	for _, c := range []struct{ client, s1 netip.Addr }{
		{lab.ClientV4, lab.ServerV4(1)}, {lab.ClientV6, lab.ServerV6(1)},
	} {
		t.Run(family(c.s1), func(t *testing.T) {
			t.Run("error about a tracked flow passes", func(t *testing.T) {
				before := fw.drops(t)
				// Nothing listens on UDP 5300 on s1; the rules pass the
				// datagram in, s1's kernel answers port unreachable.
				refused, err := udpRefused(l.ClientNS, c.s1, 5300, 3*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				if !refused {
					t.Errorf("UDP to %s: no port unreachable reached the client within 3s; drops changed by %v",
						hostPort(c.s1, 5300), dropDelta(before, fw.drops(t)))
				}
			})
			t.Run("error about no flow is dropped", func(t *testing.T) {
				f := serverToClient(l)
				frames := [][]byte{
					// Quotes client:47005 → s1:5399, which the client never sent.
					f.portUnreachable(t, c.s1, c.client, 47005, 5399),
					// Passed by "pass out proto { tcp, udp }": the path works.
					f.udp(t, c.s1, c.client, 47006, 47006, "rackwall canary"),
				}
				before := fw.drops(t)
				got := sendAndWatchClient(t, l, "icmp or (icmp6 and ip6[40] < 128) or udp port 47006", frames)
				if !containsLine(got, "udp ") {
					t.Fatalf("the passed datagram did not reach the client either; capture: %q", got)
				}
				if containsLine(got, "icmp") {
					t.Errorf("an ICMP error about no connection reached the client: %q", got)
				}
				// filter/doc.go: errors about nothing tracked are judged by
				// the rules; here the default block decides.
				// (At least: a server's own MLD or router solicitations are
				// blocked by the same default and may land in the window.)
				if d := fw.waitDropped(t, before, "filter_blocked", 1); d["filter_blocked"] < 1 {
					t.Errorf("filter_blocked grew by %v, want at least 1 (the forged error); all drops: %v", d["filter_blocked"], d)
				}
			})
		})
	}
}
