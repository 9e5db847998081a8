package tests

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// applianceListen is where the appliance serves its UI inside the box
// namespace during the lab test (plain HTTP on the box's loopback).
const applianceListen = "127.0.0.1:8443"

// startAppliance runs rackwall in the box namespace on the lab's ports.
func startAppliance(t *testing.T, l *lab.Lab, bin, state string) *lab.Proc {
	t.Helper()
	p, err := l.Start(l.BoxNS, bin+"/rackwall", "--uplink", l.UplinkPort, "--rack", l.RackPort,
		"--state", state, "--listen", applianceListen, "--http")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// childPIDs lists the children of pid (the dataplane of an appliance).
func childPIDs(pid int) []int {
	var out []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// tcpEcho serves one-line echoes on addr inside ns until the test ends.
func tcpEcho(t *testing.T, ns, addr string) {
	t.Helper()
	var ln net.Listener
	err := lab.InNamespace(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		t.Fatal(err)
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
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					c.Write([]byte("echo " + line))
				}
			}()
		}
	}()
}

// tcpExchange connects from ns to addr and checks the echo.
func tcpExchange(ns, addr string, timeout time.Duration) error {
	c, err := lab.Dial(ns, "tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := c.Write([]byte("hello rack\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "echo hello rack\n" {
		return fmt.Errorf("echo = %q", line)
	}
	return nil
}

func TestApplianceOnLab(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	lab.RequireTools(t, "ping", "tcpdump", "/usr/bin/python3")
	l, err := lab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAppliance(t)
	state := t.TempDir()
	// Nothing may ever leave the box from its own port MACs (no ARP, no
	// IPv6 neighbour discovery, no MLD): it has no address there.
	silence, err := l.StartCapture(l.ClientNS, l.ClientIf,
		fmt.Sprintf("ether src %s or ether src %s", l.MAC(l.UplinkPort), l.MAC(l.RackPort)))
	if err != nil {
		t.Fatal(err)
	}
	app := startAppliance(t, l, bin, state)
	ui := newUIClient(t, "http://"+applianceListen, &http.Transport{DisableKeepAlives: true,
		DialContext: lab.HTTPClient(l.BoxNS, 5*time.Second).Transport.(*http.Transport).DialContext})

	start := time.Now()
	h := ui.waitHealthy(30*time.Second, app.Output)
	t.Logf("appliance healthy %.1fs after start: %+v", time.Since(start).Seconds(), h)
	if !h.Healthy || h.Dataplane != "" {
		t.Fatalf("anonymous healthz = %+v, want healthy and no details", h)
	}
	if err := l.WaitForwarding(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("first ping through the dataplane %.1fs after start", time.Since(start).Seconds())

	// The bridge ports are silent: no addresses, no IPv6, promiscuous.
	out, err := l.Exec(l.BoxNS, "ip", "-o", "addr", "show", "dev", l.UplinkPort)
	if err != nil || strings.Contains(string(out), "inet") {
		t.Fatalf("uplink port has addresses: %s %v", out, err)
	}

	// The box answers for none of its own addresses on the bridge ports:
	// give it one elsewhere (as the management port has) and ask for it.
	mgmt := "mg-" + l.ID
	for _, args := range [][]string{
		{"ip", "link", "add", mgmt, "type", "veth", "peer", "name", "mp-" + l.ID},
		{"ip", "addr", "add", "10.77.0.99/32", "dev", mgmt},
		{"ip", "link", "set", mgmt, "up"},
		{"ip", "link", "set", "mp-" + l.ID, "up"},
	} {
		if out, err := l.Exec(l.BoxNS, args...); err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
	}
	replies := arpReplies(t, l, "10.77.0.99", lab.ServerV4(2).String())
	t.Logf("ARP from the client: replies %v", replies)
	if len(replies) != 1 || replies[0] != lab.ServerV4(2).String()+" "+l.MAC(l.ServerIf[1]).String() {
		t.Fatalf("ARP replies %v, want only s2's (the box must not answer for 10.77.0.99)", replies)
	}

	// Ping and TCP cross the box.
	if out, err := l.Exec(l.ClientNS, "ping", "-c", "3", "-i", "0.2", "-W", "1", lab.ServerV4(2).String()); err != nil {
		t.Fatalf("ping s2: %v\n%s", err, out)
	}
	tcpEcho(t, l.Server(1), lab.ServerV4(1).String()+":7001")
	tcpEcho(t, l.Server(3), lab.ServerV4(3).String()+":9999")
	if err := tcpExchange(l.ClientNS, lab.ServerV4(1).String()+":7001", 3*time.Second); err != nil {
		t.Fatalf("TCP client→s1: %v", err)
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 3*time.Second); err != nil {
		t.Fatalf("TCP client→s3:9999 before any rule: %v", err)
	}

	// The API, with the password set through the first-run flow.
	ui.firstRun("lab admin password", setupCodeIn(t, app.Output))
	// With the token /healthz gives the details.
	if h, err := ui.healthz(); err != nil || !h.ConfigLoaded || h.Dataplane != "forwarding" || h.Bypass || !h.UI {
		t.Fatalf("healthz with a token = %+v, %v", h, err)
	}
	rules := "block in proto tcp from any to 10.77.0.23 port 9999\n"
	ui.mustDo("POST", "/api/rules", rules, http.StatusOK)
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 2*time.Second); err == nil {
		t.Fatal("TCP to s3:9999 still passes after the blocking rule was applied")
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(1).String()+":7001", 3*time.Second); err != nil {
		t.Fatalf("TCP client→s1 after the rule: %v", err)
	}
	m := ui.metrics()
	if m.Sum("rackwall_bypass_active") != 0 || m.Sum("rackwall_frames_forwarded_total") == 0 {
		t.Fatalf("metrics before the kill: bypass %v forwarded %v",
			m.Sum("rackwall_bypass_active"), m.Sum("rackwall_frames_forwarded_total"))
	}
	if !m.Has("go_goroutines") || !m.Has("process_resident_memory_bytes") {
		t.Fatal("/metrics lacks the Go and process collectors")
	}

	// Kill the dataplane: traffic must go on through the bypass.
	kids := childPIDs(app.PID())
	if len(kids) != 1 {
		t.Fatalf("appliance children = %v, want the one dataplane", kids)
	}
	pinger, err := l.Start(l.ClientNS, "ping", "-i", "0.1", "-c", "80", "-W", "1", lab.ServerV4(1).String())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	killed := time.Now()
	if err := syscall.Kill(kids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var sawBypass healthz
	var bypassMetric float64 = -1
	for time.Since(killed) < 5*time.Second {
		h, err := ui.healthz()
		if err == nil && h.Bypass && h.Dataplane == "bypass" {
			sawBypass = h
			bypassMetric = ui.metrics().Sum("rackwall_bypass_active")
			break
		}
		time.Sleep(30 * time.Millisecond)
	}
	if !sawBypass.Bypass {
		t.Fatalf("the bypass was never reported within 5 s of the kill\n%s", app.Output())
	}
	t.Logf("bypass reported %.0f ms after the kill: healthz %d %q (%s), rackwall_bypass_active %v",
		float64(time.Since(killed).Milliseconds()), sawBypass.Code, sawBypass.Dataplane, sawBypass.Reason, bypassMetric)
	if sawBypass.Code != http.StatusServiceUnavailable {
		t.Errorf("healthz during the bypass = %d, want 503", sawBypass.Code)
	}
	if bypassMetric != 1 {
		t.Errorf("rackwall_bypass_active during the bypass = %v, want 1", bypassMetric)
	}
	// It returns to the dataplane.
	h = ui.waitHealthy(20*time.Second, app.Output)
	t.Logf("back to the dataplane %.1fs after the kill: %+v", time.Since(killed).Seconds(), h)
	gap := pingGap(t, pinger, 20*time.Second)
	if gap > 3*time.Second {
		t.Errorf("traffic stopped for about %v after the dataplane was killed; want under 3 s", gap)
	}

	if h.Bypass || h.Restarts < 1 {
		t.Fatalf("after recovery: %+v", h)
	}
	if _, err := l.Exec(l.BoxNS, "ip", "link", "show", "rwbypass0"); err == nil {
		t.Fatal("the bypass bridge still exists after the dataplane came back")
	}
	if kids := childPIDs(app.PID()); len(kids) != 1 {
		t.Fatalf("appliance children after recovery = %v", kids)
	}
	before := ui.metrics().Sum("rackwall_frames_received_total")
	if out, err := l.Exec(l.ClientNS, "ping", "-c", "5", "-i", "0.2", "-W", "1", lab.ServerV4(1).String()); err != nil {
		t.Fatalf("ping after recovery: %v\n%s", err, out)
	}
	m = ui.metrics()
	if after := m.Sum("rackwall_frames_received_total"); after < before+10 {
		t.Fatalf("the new dataplane counted %v → %v frames for 5 pings; frames are not crossing it", before, after)
	}
	if m.Sum("rackwall_bypass_active") != 0 || m.Sum("rackwall_dataplane_restarts_total") < 1 {
		t.Fatalf("metrics after recovery: bypass %v restarts %v", m.Sum("rackwall_bypass_active"), m.Sum("rackwall_dataplane_restarts_total"))
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 2*time.Second); err == nil {
		t.Fatal("the restarted dataplane lost the blocking rule")
	}
	events := ui.eventMessages()
	if !strings.Contains(events, "bypass on") || !strings.Contains(events, "dataplane forwarding") {
		t.Fatalf("events do not tell of the bypass:\n%s", events)
	}

	// The config survives an appliance restart.
	app.Stop()
	if _, err := l.Exec(l.BoxNS, "ip", "link", "show", "rwbypass0"); err != nil {
		t.Error("a stopped appliance should leave the ports bridged (fail-open)")
	}
	app = startAppliance(t, l, bin, state)
	start = time.Now()
	ui.waitHealthy(30*time.Second, app.Output)
	t.Logf("restarted appliance healthy after %.1fs", time.Since(start).Seconds())
	cfg := ui.mustDo("GET", "/api/config", "", http.StatusOK)
	if !strings.Contains(string(cfg), "10.77.0.23 port 9999") {
		t.Fatalf("rule lost across the restart: %s", cfg)
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(1).String()+":7001", 3*time.Second); err != nil {
		t.Fatalf("TCP after restart: %v", err)
	}
	if err := tcpExchange(l.ClientNS, lab.ServerV4(3).String()+":9999", 2*time.Second); err == nil {
		t.Fatal("the rule is stored but not enforced after the restart")
	}
	app.Stop()
	assertSilent(t, silence)
}

// assertSilent fails the test if the capture saw any frame.
func assertSilent(t *testing.T, c *lab.Capture) {
	t.Helper()
	frames, err := c.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range frames[:min(len(frames), 10)] {
		t.Logf("frame %d from the box at %s: % x", i, p.Time.Format("15:04:05.000"), p.Data[:min(len(p.Data), 64)])
	}
	if len(frames) != 0 {
		t.Errorf("the box sent %d frames from its port MACs; it must never originate traffic there", len(frames))
	}
}
