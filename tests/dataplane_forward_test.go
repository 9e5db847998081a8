package tests

import (
	"strconv"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/tests/lab"
)

// TestForwardingThroughBox checks the everyday traffic of a rack crosses
// the box both ways: ARP, ping, IPv6 neighbour discovery, TCP and UDP
// (plain and fragmented).
func TestForwardingThroughBox(t *testing.T) {
	for _, b := range bridgeBoxes {
		t.Run(b.name, func(t *testing.T) {
			l := newLab(t, 2, "ping", "iperf3")
			b.start(t, l)
			t.Run("arp", func(t *testing.T) { checkNeighbour(t, l, lab.ServerV4(2).String(), 2) })
			t.Run("ping4", func(t *testing.T) {
				for i := 1; i <= 2; i++ {
					if out, err := l.Exec(l.ClientNS, "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.ServerV4(i).String()); err != nil {
						t.Errorf("%v\n%s", err, out)
					}
				}
				// Large pings are fragmented by the sender: 4000 bytes of ICMP.
				if out, err := l.Exec(l.Server(1), "ping", "-c", "2", "-i", "0.2", "-W", "2", "-s", "4000", lab.ClientV4.String()); err != nil {
					t.Errorf("fragmented ping: %v\n%s", err, out)
				}
			})
			t.Run("ping6_nd", func(t *testing.T) {
				checkNeighbour(t, l, lab.ServerV6(2).String(), 2)
				if out, err := l.Exec(l.Server(1), "ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-s", "3000", lab.ClientV6.String()); err != nil {
					t.Errorf("fragmented ping6: %v\n%s", err, out)
				}
			})
			if _, err := l.IperfServer(l.ClientNS, 5201); err != nil {
				t.Fatal(err)
			}
			t.Run("tcp", func(t *testing.T) {
				for _, dir := range [][]string{nil, {"-R"}} {
					args := append([]string{lab.ClientV4.String(), "-t", "2"}, dir...)
					r, err := l.Iperf(l.Server(1), args...)
					if err != nil {
						t.Fatal(err)
					}
					t.Logf("tcp %v: %.0f Mbit/s", dir, r.Received/1e6)
					if r.BytesReceived < 1<<20 {
						t.Errorf("tcp %v: only %d bytes arrived in 2 s", dir, r.BytesReceived)
					}
				}
				r, err := l.Iperf(l.Server(2), lab.ClientV6.String(), "-t", "1")
				if err != nil {
					t.Fatal(err)
				}
				if r.BytesReceived < 1<<20 {
					t.Errorf("tcp over IPv6: only %d bytes arrived", r.BytesReceived)
				}
			})
			t.Run("udp", func(t *testing.T) {
				for _, size := range []string{"1000", "3000"} {
					for _, dst := range []string{lab.ClientV4.String(), lab.ClientV6.String()} {
						rcvbuf := udpRcvbufErrors(t, l, l.ClientNS)
						r, err := l.Iperf(l.Server(1), dst, "-u", "-b", "5M", "-l", size, "-t", "2")
						if err != nil {
							t.Fatal(err)
						}
						rcvbuf = udpRcvbufErrors(t, l, l.ClientNS) - rcvbuf
						// Datagrams that crossed the box but overflowed the
						// receiver's socket buffer were delivered by the box;
						// they arrive in bursts when the box (a process) is
						// descheduled on a busy host. Logged, not held against it.
						lostInBox := r.Lost - rcvbuf
						t.Logf("udp %s -l %s: %d datagrams, %d lost (%d overflowed the receiver's socket buffer)", dst, size, r.Packets, r.Lost, rcvbuf)
						if r.Packets < 100 || float64(lostInBox) > 0.02*float64(r.Packets) {
							t.Errorf("udp to %s, %s-byte datagrams: %d sent, %d lost before reaching the receiver", dst, size, r.Packets, lostInBox)
						}
					}
				}
			})
		})
	}
}

// checkNeighbour flushes the client's neighbour cache, pings addr and
// checks the entry learned (by ARP or neighbour discovery through the box)
// carries server i's MAC.
func checkNeighbour(t *testing.T, l *lab.Lab, addr string, server int) {
	t.Helper()
	if _, err := l.Exec(l.ClientNS, "ip", "neigh", "flush", "dev", l.ClientIf); err != nil {
		t.Fatal(err)
	}
	args := []string{"ping", "-c", "1", "-W", "2", addr}
	if strings.Contains(addr, ":") {
		args = append(args[:1], append([]string{"-6"}, args[1:]...)...)
	}
	if out, err := l.Exec(l.ClientNS, args...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err := l.Exec(l.ClientNS, "ip", "neigh", "show", addr, "dev", l.ClientIf)
	if err != nil {
		t.Fatal(err)
	}
	want := l.MAC(l.ServerIf[server-1]).String()
	if !strings.Contains(string(out), "lladdr "+want) {
		t.Errorf("neighbour entry for %s: %q, want lladdr %s", addr, strings.TrimSpace(string(out)), want)
	}
}

// udpRcvbufErrors reads the UDP receive-buffer overflow counter (IPv4 and
// IPv6 together) of namespace ns: loss there means datagrams crossed the
// box but arrived faster than the receiver read them.
func udpRcvbufErrors(t *testing.T, l *lab.Lab, ns string) int64 {
	t.Helper()
	var total int64
	for _, file := range []string{"/proc/net/snmp", "/proc/net/snmp6"} {
		out, err := l.Exec(ns, "cat", file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(string(out), "\n")
		for i, line := range lines {
			f := strings.Fields(line)
			switch {
			case len(f) == 2 && f[0] == "Udp6RcvbufErrors":
				n, _ := strconv.ParseInt(f[1], 10, 64)
				total += n
			case len(f) > 1 && f[0] == "Udp:" && i+1 < len(lines) && !strings.ContainsAny(f[1], "0123456789"):
				vals := strings.Fields(lines[i+1])
				for j, name := range f {
					if name == "RcvbufErrors" && j < len(vals) {
						n, _ := strconv.ParseInt(vals[j], 10, 64)
						total += n
					}
				}
			}
		}
	}
	return total
}
