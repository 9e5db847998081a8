package tests

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// The rack of the rules-language example (testdata/firewall/web.rules):
// only TCP 80, 443 and 5201 to the web hosts come in, everything goes out.
func TestFirewallWebRack(t *testing.T) {
	fw := startFirewall(t, "web.rules", 3, "iperf3", "tcpdump", "tcpreplay")
	l := fw.l
	defer explainFailure(t, fw.dp, nil)

	for _, fam := range []struct {
		s1, s3 netip.Addr
	}{{lab.ServerV4(1), lab.ServerV4(3)}, {lab.ServerV6(1), lab.ServerV6(3)}} {
		for _, p := range []int{80, 8080} {
			echoServer(t, l.Server(1), fam.s1, p)
		}
		echoServer(t, l.Server(3), fam.s3, 80)
	}

	t.Run("blocked port", func(t *testing.T) {
		for _, s1 := range []netip.Addr{lab.ServerV4(1), lab.ServerV6(1)} {
			t.Run(family(s1), func(t *testing.T) {
				before := fw.drops(t)
				expectBlocked(t, l.ClientNS, s1, 8080)
				delta := fw.waitDropped(t, before, "filter_blocked", 1)
				if delta["filter_blocked"] < 1 {
					t.Errorf("SYN to %s not counted as filter_blocked; drops changed by %v", hostPort(s1, 8080), delta)
				}
			})
		}
		// s3 is outside <web> for IPv4 only: the table names two IPv4 hosts
		// but all of fd77::/64.
		t.Run("host outside the table", func(t *testing.T) {
			before := fw.drops(t)
			expectBlocked(t, l.ClientNS, lab.ServerV4(3), 80)
			if d := fw.waitDropped(t, before, "filter_blocked", 1); d["filter_blocked"] < 1 {
				t.Errorf("SYN to %s not counted as filter_blocked; drops changed by %v", hostPort(lab.ServerV4(3), 80), d)
			}
			expectAllowed(t, l.ClientNS, lab.ServerV6(3), 80)
		})
	})

	t.Run("allowed TCP", func(t *testing.T) {
		if _, err := l.IperfServer(l.Server(1), 5201); err != nil {
			t.Fatal(err)
		}
		for _, s1 := range []netip.Addr{lab.ServerV4(1), lab.ServerV6(1)} {
			t.Run(family(s1), func(t *testing.T) {
				before := fw.drops(t)
				expectAllowed(t, l.ClientNS, s1, 80)
				r, err := l.Iperf(l.ClientNS, s1.String(), "-p", "5201", "-t", "2")
				if err != nil {
					t.Fatalf("iperf3 to %s: %v", hostPort(s1, 5201), err)
				}
				t.Logf("iperf3 to %s through rackwall: %.0f Mbit/s, %d bytes", hostPort(s1, 5201), r.Received/1e6, r.BytesReceived)
				if r.BytesReceived < 1<<20 {
					t.Errorf("iperf3 to %s moved %d bytes in 2 s", hostPort(s1, 5201), r.BytesReceived)
				}
				if d := dropDelta(before, fw.drops(t)); d["conn_invalid"] != 0 {
					t.Errorf("an allowed connection had segments dropped as conn_invalid: %v", d)
				}
			})
		}
	})

	// The file's "block in quick from 203.0.113.0/24" is written below the
	// web pass rule, but quick rules are checked before all others
	// (rules/doc.go), so that network reaches no web port: the rules file
	// means what it says read aloud. Both SYNs are dropped and counted; a
	// SYN from another network to port 80, sent alongside, shows the
	// capture would have seen them.
	t.Run("quick: a block below the web pass still blocks", func(t *testing.T) {
		f := forge{srcMAC: l.MAC(l.ClientIf), dstMAC: l.MAC(l.ServerIf[0])}
		blocked := netip.MustParseAddr("203.0.113.7")
		other := netip.MustParseAddr("198.51.100.77")
		s1 := lab.ServerV4(1)
		c, err := l.StartCapture(l.Server(1), l.ServerIf[0], "tcp and (host 203.0.113.7 or host 198.51.100.77)")
		if err != nil {
			t.Fatal(err)
		}
		before := fw.drops(t)
		err = l.Send(l.ClientNS, l.ClientIf, [][]byte{
			f.tcp(t, blocked, s1, 47011, 80, tcpFlags{syn: true}, 5000, 0),
			f.tcp(t, blocked, s1, 47012, 8080, tcpFlags{syn: true}, 6000, 0),
			f.tcp(t, other, s1, 47013, 80, tcpFlags{syn: true}, 7000, 0),
		})
		time.Sleep(700 * time.Millisecond)
		pkts, cerr := c.Stop()
		if err != nil || cerr != nil {
			t.Fatal(errors.Join(err, cerr))
		}
		var got []string
		for _, p := range pkts {
			if s := seen(p.Data); s != "" {
				got = append(got, s)
			}
		}
		if !containsLine(got, "tcp 198.51.100.77:47013 > 10.77.0.21:80 [S]") {
			t.Fatalf("the SYN from 198.51.100.77 to port 80, which the web rule passes, did not arrive either; server saw %q", got)
		}
		if containsLine(got, "tcp 203.0.113.7:47011") {
			t.Errorf("SYN from 203.0.113.7 to port 80 arrived although the quick block comes first; server saw %q", got)
		}
		if containsLine(got, "tcp 203.0.113.7:47012") {
			t.Errorf("SYN from 203.0.113.7 to port 8080 arrived; server saw %q", got)
		}
		if d := fw.waitDropped(t, before, "filter_blocked", 2); d["filter_blocked"] < 2 {
			t.Errorf("the two SYNs from 203.0.113.7 not both counted as filter_blocked; drops changed by %v", d)
		}
	})

	t.Run("unsolicited reply", func(t *testing.T) {
		f := serverToClient(l)
		for _, c := range []struct{ client, s1 netip.Addr }{
			{lab.ClientV4, lab.ServerV4(1)}, {lab.ClientV6, lab.ServerV6(1)},
		} {
			t.Run(family(c.s1), func(t *testing.T) {
				// A SYN-ACK and an ACK from a web server's port 80 to a
				// client port nothing connected from, and a datagram the
				// rules pass ("pass out all"), proving the path delivers.
				frames := [][]byte{
					f.tcp(t, c.s1, c.client, 80, 47001, tcpFlags{syn: true, ack: true}, 1000, 2000),
					f.tcp(t, c.s1, c.client, 80, 47001, tcpFlags{ack: true}, 1001, 2000),
					f.udp(t, c.s1, c.client, 47002, 47002, "rackwall canary"),
				}
				before := fw.drops(t)
				got := sendAndWatchClient(t, l, "tcp port 47001 or udp port 47002", frames)
				if !containsLine(got, "udp ") {
					t.Fatalf("the passed datagram did not reach the client either; capture: %q", got)
				}
				if containsLine(got, "tcp ") {
					t.Errorf("unsolicited TCP reached the client: %q", got)
				}
				// filter/doc.go: a SYN+ACK or ACK of no tracked connection
				// that a pass rule matches is ConnInvalid.
				delta := fw.waitDropped(t, before, "conn_invalid", 2)
				if delta["conn_invalid"] != 2 {
					t.Errorf("conn_invalid grew by %v, want 2 (SYN-ACK and ACK); all drops: %v", delta["conn_invalid"], delta)
				}
			})
		}
	})
}

// A port the rules block for traffic leaving the rack stays closed to rack
// hosts, while its neighbour port works.
func TestFirewallBlocksOutboundPort(t *testing.T) {
	fw := startFirewall(t, "outbound-block.rules", 1)
	l := fw.l
	defer explainFailure(t, fw.dp, nil)
	for _, c := range []netip.Addr{lab.ClientV4, lab.ClientV6} {
		echoServer(t, l.ClientNS, c, 9090)
		echoServer(t, l.ClientNS, c, 9091)
	}
	for _, c := range []netip.Addr{lab.ClientV4, lab.ClientV6} {
		t.Run(family(c), func(t *testing.T) {
			before := fw.drops(t)
			expectBlocked(t, l.Server(1), c, 9090)
			if d := fw.waitDropped(t, before, "filter_blocked", 1); d["filter_blocked"] < 1 {
				t.Errorf("SYN to %s not counted as filter_blocked; drops changed by %v", hostPort(c, 9090), d)
			}
			expectAllowed(t, l.Server(1), c, 9091)
		})
	}
}
