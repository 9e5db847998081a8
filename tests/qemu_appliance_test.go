package tests

import (
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// The box's bridge-port NICs (image/qemu gives them these MACs). The box
// must never send a frame from them: it has no address there.
var boxPortMACs = []string{"02:72:77:00:00:02", "02:72:77:00:00:03"}

// fragmentScript sends, from a server, one malformed fragmented TCP
// datagram (a tiny first fragment cutting the TCP header: F5, and a
// non-final fragment under min_fragment_bytes: F6; IP id 0x4242) and one
// well-formed fragmented UDP datagram (IP id 0x4343) as the control.
const fragmentScript = `
import sys
from scapy.all import Ether, IP, TCP, UDP, Raw, fragment, sendp
iface, smac, dmac, src, dst = sys.argv[1:6]
tcp = bytes(TCP(sport=40000, dport=80, flags="S") / Raw(b"x" * 40))
bad = [
    Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, id=0x4242, flags="MF", frag=0, proto=6) / Raw(tcp[:8]),
    Ether(src=smac, dst=dmac) / IP(src=src, dst=dst, id=0x4242, flags=0, frag=1, proto=6) / Raw(tcp[8:]),
]
good = [Ether(src=smac, dst=dmac) / f for f in fragment(IP(src=src, dst=dst, id=0x4343) / UDP(sport=40001, dport=9) / Raw(b"y" * 1400), fragsize=1000)]
sendp(bad + good, iface=iface, verbose=False)
print("sent", len(bad), "malformed and", len(good), "good fragments")
`

// startSilenceCapture records every frame from the box's bridge-port MACs
// that reaches the client.
func startSilenceCapture(t *testing.T, l *lab.Lab) *lab.Capture {
	t.Helper()
	var filter []string
	for _, m := range boxPortMACs {
		filter = append(filter, "ether src "+m)
	}
	c, err := l.StartCapture(l.ClientNS, l.ClientIf, strings.Join(filter, " or "))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freeTCPPort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// tLog is an io.Writer onto t.Log, line by line.
type tLog struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
	buf    bytes.Buffer
}

func (w *tLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	for {
		line, err := w.buf.ReadString('\n')
		if err != nil {
			w.buf.WriteString(line)
			return len(p), nil
		}
		w.t.Log(w.prefix + strings.TrimRight(line, "\n"))
	}
}

func serialTail(vm *qemu.VM, n int) func() string {
	return func() string {
		b, _ := os.ReadFile(vm.SerialLog)
		lines := strings.Split(string(b), "\n")
		if len(lines) > n {
			lines = lines[len(lines)-n:]
		}
		return "serial console (last lines):\n" + strings.Join(lines, "\n")
	}
}

// waitFirstPing pings s1 from the client every 200 ms until one answer
// comes back and reports when, measured from since.
func waitFirstPing(l *lab.Lab, since time.Time, d time.Duration) <-chan time.Duration {
	ch := make(chan time.Duration, 1)
	go func() {
		deadline := time.Now().Add(d)
		for time.Now().Before(deadline) {
			if _, err := l.ExecTimeout(3*time.Second, l.ClientNS, "ping", "-c", "1", "-W", "1", lab.ServerV4(1).String()); err == nil {
				ch <- time.Since(since)
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		ch <- -1
	}()
	return ch
}

func TestQemuAppliance(t *testing.T) {
	skipUnlessQemu(t, "boots the image under qemu")
	lab.RequireTools(t, "ping", "tcpdump", "tcpreplay", "/usr/bin/python3")
	testStart := time.Now()
	l, err := lab.NewFor(t, lab.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}

	// The image, as `make image` builds it (shared by the qemu tests).
	img := qemuDisk(t)

	httpsPort, httpPort := freeTCPPort(t), freeTCPPort(t)
	vm := useLabTaps(t, l).boot(qemu.Options{Image: img, WorkDir: keptVMDir(t, "rackwall-qemu-"),
		Forwards: []qemu.Forward{{Host: httpsPort, Guest: 443}, {Host: httpPort, Guest: 80}},
		Output:   &tLog{t: t, prefix: "qemu: "}})
	firstPing := waitFirstPing(l, vm.Started, 4*time.Minute)

	ui := newUIClient(t, fmt.Sprintf("https://127.0.0.1:%d", httpsPort), nil)
	// bcrypt at cost 12 takes seconds under software emulation.
	ui.hc.Timeout = 2 * time.Minute
	h := ui.waitHealthy(4*time.Minute, serialTail(vm, 60))
	healthyAfter := time.Since(vm.Started)
	pingAfter := <-firstPing
	if pingAfter < 0 {
		t.Fatalf("no ping crossed the booted box\n%s", serialTail(vm, 60)())
	}
	t.Logf("qemu start → first frame forwarded (client ping to s1): %.1fs; → /healthz 200: %.1fs (%+v)",
		pingAfter.Seconds(), healthyAfter.Seconds(), h)
	if !h.Healthy || h.Dataplane != "" {
		t.Fatalf("anonymous healthz = %+v, want healthy and no details", h)
	}
	// From now on nothing may come from the box's bridge-port MACs. (Only
	// the running system is judged: the UEFI firmware's own network stack
	// sends IPv6 neighbour discovery on every NIC while it boots.)
	silence := startSilenceCapture(t, l)

	// The certificate is the one whose fingerprint the console shows.
	conn, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", httpsPort), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(conn.ConnectionState().PeerCertificates[0].Raw)
	conn.Close()
	var fp []string
	for _, b := range sum {
		fp = append(fp, fmt.Sprintf("%02X", b))
	}
	if serial, _ := os.ReadFile(vm.SerialLog); !bytes.Contains(serial, []byte(strings.Join(fp, ":"))) {
		t.Errorf("the console does not show the UI certificate's fingerprint %s", strings.Join(fp, ":"))
	}
	// Plain HTTP on the management port redirects to HTTPS.
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := plain.Get(fmt.Sprintf("http://127.0.0.1:%d/system", httpPort)); err != nil {
		t.Errorf("HTTP :80: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusMovedPermanently || !strings.HasPrefix(resp.Header.Get("Location"), "https://") {
			t.Errorf("HTTP :80 = %d %q, want a redirect to https", resp.StatusCode, resp.Header.Get("Location"))
		}
	}

	// Ping and TCP cross the booted box.
	if out, err := l.Exec(l.ClientNS, "ping", "-c", "3", "-i", "0.2", "-W", "2", lab.ServerV4(2).String()); err != nil {
		t.Fatalf("ping s2: %v\n%s", err, out)
	}
	tcpEcho(t, l.Server(1), lab.ServerV4(1).String()+":7001")
	tcpEcho(t, l.Server(3), lab.ServerV4(3).String()+":9999")
	for _, addr := range []string{lab.ServerV4(1).String() + ":7001", lab.ServerV4(3).String() + ":9999"} {
		if err := tcpExchange(l.ClientNS, addr, 5*time.Second); err != nil {
			t.Fatalf("TCP client→%s: %v", addr, err)
		}
	}

	// A malformed fragmented datagram from a server does not arrive; a
	// well-formed one does.
	bad, good := fragmentsAtClient(t, l)
	t.Logf("fragments at the client: %d of the malformed datagram (want 0), %d of the good one (want 2)", bad, good)
	if bad != 0 || good != 2 {
		t.Errorf("fragment sanitization through the booted box: malformed %d, good %d", bad, good)
	}

	// The bridge ports have no address: nothing answers ARP for the box's
	// management address; a server does, as the control.
	replies := arpReplies(t, l, "10.0.2.15", "10.0.2.2", lab.ServerV4(2).String())
	t.Logf("ARP from the client: replies %v", replies)
	if len(replies) != 1 || replies[0] != lab.ServerV4(2).String()+" "+l.MAC(l.ServerIf[1]).String() {
		t.Errorf("ARP replies %v, want only s2's", replies)
	}
	// Even with a route to it, the management address cannot be reached
	// through the bridge ports.
	if _, err := l.Exec(l.ClientNS, "ip", "route", "add", "10.0.2.0/24", "dev", l.ClientIf); err != nil {
		t.Fatal(err)
	}
	if c, err := lab.Dial(l.ClientNS, "tcp", "10.0.2.15:443", 3*time.Second); err == nil {
		c.Close()
		t.Error("the management address answered through the bridge ports")
	}
	l.Exec(l.ClientNS, "ip", "route", "del", "10.0.2.0/24", "dev", l.ClientIf)

	// The API, with the password set through the first-run flow.
	ui.firstRun("qemu admin password", setupCodeIn(t, serialText(vm)))
	// With the token /healthz gives the details.
	if h, err := ui.healthz(); err != nil || h.Dataplane != "forwarding" || h.Bypass {
		t.Fatalf("healthz with a token = %+v, %v", h, err)
	}
	ui.mustDo("POST", "/api/rules", "block in proto tcp from any to 10.77.0.23 port 9999\n", http.StatusOK)
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 3*time.Second); err == nil {
		t.Fatal("TCP to s3:9999 passes after the blocking rule")
	}

	// Kill the dataplane inside the box: traffic goes on through the bypass.
	pinger, err := l.Start(l.ClientNS, "ping", "-i", "0.1", "-c", "150", "-W", "1", lab.ServerV4(1).String())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	killed := time.Now()
	ui.mustDo("POST", "/api/dataplane/restart?kill=1", "", http.StatusAccepted)
	var sawBypass healthz
	for time.Since(killed) < 10*time.Second {
		if h, err := ui.healthz(); err == nil && h.Bypass && h.Dataplane == "bypass" {
			sawBypass = h
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !sawBypass.Bypass {
		t.Errorf("bypass not reported within 10 s of the kill\n%s", serialTail(vm, 40)())
	} else {
		t.Logf("bypass reported %.0f ms after the kill: %d %q", float64(time.Since(killed).Milliseconds()), sawBypass.Code, sawBypass.Reason)
	}
	back := ui.waitHealthy(60*time.Second, serialTail(vm, 40))
	t.Logf("dataplane forwarding again %.1fs after the kill (restarts %d)", time.Since(killed).Seconds(), back.Restarts)
	gap := pingGap(t, pinger, 30*time.Second)
	if gap > 5*time.Second {
		t.Errorf("traffic stopped for about %v after the kill; want a few seconds at most", gap)
	}
	if events := ui.eventMessages(); !strings.Contains(events, "bypass on") || !strings.Contains(events, "dataplane kill requested") {
		t.Errorf("events do not tell of the kill and the bypass:\n%s", events)
	}
	before := ui.metrics().Sum("rackwall_frames_received_total")
	if out, err := l.Exec(l.ClientNS, "ping", "-c", "5", "-i", "0.2", "-W", "2", lab.ServerV4(1).String()); err != nil {
		t.Fatalf("ping after recovery: %v\n%s", err, out)
	}
	m := ui.metrics()
	if after := m.Sum("rackwall_frames_received_total"); after < before+10 || m.Sum("rackwall_bypass_active") != 0 {
		t.Fatalf("after recovery: frames %v → %v for 5 pings, bypass %v", before, after, m.Sum("rackwall_bypass_active"))
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 3*time.Second); err == nil {
		t.Fatal("the restarted dataplane lost the blocking rule")
	}

	// A reboot keeps the changed config (perm survives), and applies the
	// static management addressing saved before it: qemu's user network
	// takes any address in 10.0.2.0/24; 10.0.2.15 is the one the host's
	// port forward reaches.
	assertSilent(t, silence)
	ui.changeSettings(func(s map[string]any) {
		s["mgmt_mode"], s["mgmt_address"] = "static", "10.0.2.15/24"
		s["mgmt_gateway"], s["mgmt_dns"] = "10.0.2.2", []string{"10.0.2.3"}
	})
	ui.mustDo("POST", "/api/reboot", "", http.StatusAccepted)
	rebooted := time.Now()
	for time.Since(rebooted) < time.Minute {
		if h, err := ui.healthz(); err != nil || h.Code != http.StatusOK {
			t.Logf("the box went down %.1fs after the reboot request", time.Since(rebooted).Seconds())
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ui.waitHealthy(4*time.Minute, serialTail(vm, 60))
	t.Logf("healthy again %.1fs after the reboot request", time.Since(rebooted).Seconds())
	silence = startSilenceCapture(t, l)
	cfg := ui.mustDo("GET", "/api/config", "", http.StatusOK)
	if !strings.Contains(string(cfg), "10.77.0.23 port 9999") {
		t.Fatalf("the rule did not survive the reboot: %s", cfg)
	}
	serial, _ := os.ReadFile(vm.SerialLog)
	if !bytes.Contains(serial, []byte("management port addressed statically (10.0.2.15/24); not starting /gokrazy/dhcp")) ||
		!bytes.Contains(serial, []byte(`msg="management port addressed statically" port=eth0 address=10.0.2.15/24 gateway=10.0.2.2`)) {
		t.Fatalf("the box did not come up with its static management address\n%s", serialTail(vm, 80)())
	}
	t.Logf("after the reboot the management port is static (DHCP client not started) and the UI answers on it")
	if err := l.WaitForwarding(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 3*time.Second); err == nil {
		t.Fatal("the stored rule is not enforced after the reboot")
	}

	assertSilent(t, silence)
	t.Logf("qemu appliance test took %.0fs in all", time.Since(testStart).Seconds())
}
