package tests

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/rackwall/rackwall/tests/lab"
)

// firewall is a lab whose box is rackwall-dataplane running a rules file
// the test may rewrite and reload.
type firewall struct {
	l     *lab.Lab
	dp    *lab.Dataplane
	rules string // the file --rules names
}

// startFirewall builds a lab with the given number of servers and starts
// the dataplane on a private copy of tests/testdata/firewall/<name>.
func startFirewall(t *testing.T, name string, servers int, tools ...string) *firewall {
	t.Helper()
	l := newLab(t, servers, tools...)
	text, err := os.ReadFile(filepath.Join("testdata", "firewall", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(tempDir(t, l, "rules"), "rackwall.rules")
	if err := os.WriteFile(path, text, 0o644); err != nil {
		t.Fatal(err)
	}
	dp := startDataplane(t, l, "--rules", path)
	return &firewall{l: l, dp: dp, rules: path}
}

// rewriteRules replaces the rules file the way an editor saving it does
// (a new file renamed over the old), so the dataplane never reads half of it.
func (fw *firewall) rewriteRules(t *testing.T, text string) {
	t.Helper()
	tmp := fw.rules + ".new"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, fw.rules); err != nil {
		t.Fatal(err)
	}
}

// reload sends SIGHUP and waits until the dataplane logs one more line
// containing marker than before, returning that line.
func (fw *firewall) reload(t *testing.T, marker string) string {
	t.Helper()
	before := strings.Count(fw.dp.Output(), marker)
	fw.dp.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		out := fw.dp.Output()
		if strings.Count(out, marker) > before {
			lines := strings.Split(out, "\n")
			for i := len(lines) - 1; i >= 0; i-- {
				if strings.Contains(lines[i], marker) {
					return lines[i]
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no %q in the dataplane log within 5s after SIGHUP; log:\n%s", marker, logTail(fw.dp.Output(), 2048))
	return ""
}

// drops reads rackwall_drops_total by reason.
func (fw *firewall) drops(t *testing.T) map[string]float64 {
	t.Helper()
	return dropSnapshot(t, fw.dp)
}

// waitDropped polls until the counter of reason has grown by at least n
// since before (or 3 s pass) and returns the change of every reason.
func (fw *firewall) waitDropped(t *testing.T, before map[string]float64, reason string, n float64) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		after := fw.drops(t)
		delta := dropDelta(before, after)
		if delta[reason] >= n || time.Now().After(deadline) {
			return delta
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// hostPort joins an address and port for net.Dial ("[fd77::21]:80").
func hostPort(a netip.Addr, port int) string {
	return netip.AddrPortFrom(a, uint16(port)).String()
}

// echoServer listens on addr:port inside ns and echoes every line a
// client sends, until the test ends. The socket is made in ns, so the
// accept loop may run on any thread.
func echoServer(t *testing.T, ns string, addr netip.Addr, port int) {
	t.Helper()
	var ln net.Listener
	err := lab.InNamespace(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", hostPort(addr, port))
		return err
	})
	if err != nil {
		t.Fatalf("listen %s in %s: %v", hostPort(addr, port), ns, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.Copy(c, c)
			}()
		}
	}()
}

// echoExchange connects from ns to addr:port, sends a line and reads it
// back: both directions of one connection through the box.
func echoExchange(ns string, addr netip.Addr, port int, timeout time.Duration) error {
	c, err := lab.Dial(ns, "tcp", hostPort(addr, port), timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	msg := fmt.Sprintf("rackwall firewall test %s\n", hostPort(addr, port))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("reading the echo: %w", err)
	}
	if got != msg {
		return fmt.Errorf("echo %q, sent %q", got, msg)
	}
	return nil
}

// isTimeout reports whether err is a dial or read that timed out: what a
// silently dropped SYN looks like to the client (a RST would be "refused").
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// expectBlocked dials addr:port from ns and fails unless the attempt
// times out.
func expectBlocked(t *testing.T, ns string, addr netip.Addr, port int) {
	t.Helper()
	err := echoExchange(ns, addr, port, 1500*time.Millisecond)
	if err == nil {
		t.Errorf("TCP to %s: connected, want blocked", hostPort(addr, port))
	} else if !isTimeout(err) {
		t.Errorf("TCP to %s: %v, want a timeout (a silent drop)", hostPort(addr, port), err)
	}
}

// expectAllowed fails unless an echo exchange with addr:port from ns works.
func expectAllowed(t *testing.T, ns string, addr netip.Addr, port int) {
	t.Helper()
	if err := echoExchange(ns, addr, port, 5*time.Second); err != nil {
		t.Errorf("TCP to %s: %v, want an echoed line", hostPort(addr, port), err)
	}
}

// udpRefused sends one datagram from ns to addr:port on a connected socket
// and reports whether the ICMP port unreachable came back (the socket's
// next read fails with ECONNREFUSED) within timeout.
func udpRefused(ns string, addr netip.Addr, port int, timeout time.Duration) (bool, error) {
	var c net.Conn
	err := lab.InNamespace(ns, func() error {
		var err error
		c, err = net.Dial("udp", hostPort(addr, port))
		return err
	})
	if err != nil {
		return false, err
	}
	defer c.Close()
	if _, err := c.Write([]byte("rackwall firewall test: is anyone there?")); err != nil {
		return errors.Is(err, syscall.ECONNREFUSED), nil
	}
	c.SetReadDeadline(time.Now().Add(timeout))
	_, err = c.Read(make([]byte, 64))
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, nil
	case isTimeout(err):
		return false, nil
	case err == nil:
		return false, errors.New("a datagram came back; nothing should listen there")
	default:
		return false, err
	}
}

// forge builds Ethernet frames from a server to the client, as a host on
// the rack side could send them.
type forge struct {
	srcMAC, dstMAC net.HardwareAddr
}

func serverToClient(l *lab.Lab) forge {
	return forge{srcMAC: l.MAC(l.ServerIf[0]), dstMAC: l.MAC(l.ClientIf)}
}

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol) gopacket.NetworkLayer {
	if src.Is4() {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	}
	return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func (f forge) ether(v6 bool) *layers.Ethernet {
	et := layers.EthernetTypeIPv4
	if v6 {
		et = layers.EthernetTypeIPv6
	}
	return &layers.Ethernet{SrcMAC: f.srcMAC, DstMAC: f.dstMAC, EthernetType: et}
}

// tcpFlags names the flags of a forged segment.
type tcpFlags struct{ syn, ack, rst, fin bool }

// tcp is one TCP segment src:sport → dst:dport.
func (f forge) tcp(t *testing.T, src, dst netip.Addr, sport, dport int, fl tcpFlags, seq, ack uint32) []byte {
	t.Helper()
	ip := ipLayer(src, dst, layers.IPProtocolTCP)
	seg := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport),
		Seq: seq, Ack: ack, SYN: fl.syn, ACK: fl.ack, RST: fl.rst, FIN: fl.fin, Window: 64240}
	seg.SetNetworkLayerForChecksum(ip)
	return serialize(t, f.ether(!src.Is4()), ip.(gopacket.SerializableLayer), seg)
}

// udp is one UDP datagram src:sport → dst:dport carrying payload.
func (f forge) udp(t *testing.T, src, dst netip.Addr, sport, dport int, payload string) []byte {
	t.Helper()
	ip := ipLayer(src, dst, layers.IPProtocolUDP)
	u := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	u.SetNetworkLayerForChecksum(ip)
	return serialize(t, f.ether(!src.Is4()), ip.(gopacket.SerializableLayer), u, gopacket.Payload(payload))
}

// portUnreachable is the ICMP (or ICMPv6) port unreachable src would send
// to dst about a UDP datagram dst:sport → src:dport that dst sent.
func (f forge) portUnreachable(t *testing.T, src, dst netip.Addr, sport, dport int) []byte {
	t.Helper()
	qip := ipLayer(dst, src, layers.IPProtocolUDP)
	qu := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	qu.SetNetworkLayerForChecksum(qip)
	quote := serialize(t, qip.(gopacket.SerializableLayer), qu, gopacket.Payload("rackwall quoted datagram"))
	if src.Is4() {
		ip := ipLayer(src, dst, layers.IPProtocolICMPv4)
		ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeDestinationUnreachable, layers.ICMPv4CodePort)}
		return serialize(t, f.ether(false), ip.(gopacket.SerializableLayer), ic, gopacket.Payload(quote))
	}
	ip := ipLayer(src, dst, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeDestinationUnreachable, layers.ICMPv6CodePortUnreachable)}
	ic.SetNetworkLayerForChecksum(ip)
	// Destination unreachable has 4 unused bytes before the quote.
	return serialize(t, f.ether(true), ip.(gopacket.SerializableLayer), ic, gopacket.Payload(append(make([]byte, 4), quote...)))
}

// seen describes a captured frame in one line: "tcp 10.77.0.21:80 >
// 10.77.0.1:47001 [SA]", "udp ...", "icmp type 3 ..." — or "" for frames
// the firewall tests do not look at.
func seen(data []byte) string {
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	var src, dst string
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, dst = ip.SrcIP.String(), ip.DstIP.String()
	case *layers.IPv6:
		src, dst = ip.SrcIP.String(), ip.DstIP.String()
	default:
		return ""
	}
	if tc, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && p.Layer(layers.LayerTypeICMPv4) == nil && p.Layer(layers.LayerTypeICMPv6) == nil {
		fl := ""
		for _, f := range []struct {
			on bool
			c  string
		}{{tc.SYN, "S"}, {tc.ACK, "A"}, {tc.RST, "R"}, {tc.FIN, "F"}} {
			if f.on {
				fl += f.c
			}
		}
		return fmt.Sprintf("tcp %s > %s [%s]", hostPort(netip.MustParseAddr(src), int(tc.SrcPort)), hostPort(netip.MustParseAddr(dst), int(tc.DstPort)), fl)
	}
	if ic, ok := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok {
		return fmt.Sprintf("icmp type %d code %d %s > %s", ic.TypeCode.Type(), ic.TypeCode.Code(), src, dst)
	}
	if ic, ok := p.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok {
		return fmt.Sprintf("icmp6 type %d code %d %s > %s", ic.TypeCode.Type(), ic.TypeCode.Code(), src, dst)
	}
	if u, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP); ok {
		return fmt.Sprintf("udp %s > %s", hostPort(netip.MustParseAddr(src), int(u.SrcPort)), hostPort(netip.MustParseAddr(dst), int(u.DstPort)))
	}
	return ""
}

// sendAndWatchClient starts a capture on the client's interface, sends
// frames out of server 1's interface, and returns one line per frame
// the client received that matches filter.
func sendAndWatchClient(t *testing.T, l *lab.Lab, filter string, frames [][]byte) []string {
	t.Helper()
	c, err := l.StartCapture(l.ClientNS, l.ClientIf, filter)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Send(l.Server(1), l.ServerIf[0], frames); err != nil {
		c.Stop()
		t.Fatal(err)
	}
	// The box forwards within microseconds; the pause covers a loaded host.
	time.Sleep(700 * time.Millisecond)
	pkts, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pkts {
		if s := seen(p.Data); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func containsLine(lines []string, prefix string) bool {
	for _, s := range lines {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}

// family names an address family for sub-test names.
func family(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// logTail is the last n bytes of a process's output, for failure messages.
func logTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}
