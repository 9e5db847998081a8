package tests

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/tests/lab"
)

// The appliance's documented connection caps (docs/MANUAL.md, "Security").
const (
	uiMaxConnsPerClient = 32
	slowConnections     = 200
)

// slowConn opens a connection to addr from the loopback address from in
// the box namespace and sends half a request header, then stalls.
func slowConn(ns, network, from, addr string) (net.Conn, error) {
	var c net.Conn
	err := lab.InNamespace(ns, func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		if from != "" {
			d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
		}
		var err error
		c, err = d.Dial(network, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	if _, err := io.WriteString(c, "GET /login HTTP/1.1\r\nHost: box\r\nUser-Agent: sl"); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// closedAtOnce counts the connections the server has closed within wait:
// a read ends with EOF or a reset instead of timing out.
func closedAtOnce(conns []net.Conn, wait time.Duration) int {
	var mu sync.Mutex
	var wg sync.WaitGroup
	closed := 0
	for _, c := range conns {
		wg.Go(func() {
			c.SetReadDeadline(time.Now().Add(wait))
			_, err := c.Read(make([]byte, 1))
			var ne net.Error
			if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
				mu.Lock()
				closed++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return closed
}

// TestApplianceAnswersUnderSlowConnections holds 200 connections that send
// half a request header and stall, from one client address and then from
// several, and 200 more on the dataplane's control socket; the web UI and
// the control socket must still answer, the one client's connections over
// its cap must be closed at once, and the stalled ones must be cut off at
// the header timeout.
func TestApplianceAnswersUnderSlowConnections(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces")
	}
	l, err := lab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	bin := buildAppliance(t)
	runtimeDir := t.TempDir()
	app, err := l.Start(l.BoxNS, bin+"/rackwall", "--uplink", l.UplinkPort, "--rack", l.RackPort,
		"--state", t.TempDir(), "--runtime", runtimeDir, "--listen", applianceListen, "--http")
	if err != nil {
		t.Fatal(err)
	}
	dial := lab.HTTPClient(l.BoxNS, 5*time.Second).Transport.(*http.Transport).DialContext
	ui := newUIClient(t, "http://"+applianceListen, &http.Transport{DisableKeepAlives: true, DialContext: dial})
	ui.waitHealthy(30*time.Second, app.Output)
	ctl := control.Dial(runtimeDir + "/control.sock")

	// answers checks the UI serves its login (or first-run) form and the
	// control socket reports the engine, each within a few seconds.
	answers := func(when string) {
		t.Helper()
		browser := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: dial}}
		start := time.Now()
		resp, err := browser.Get("http://" + applianceListen + "/login")
		if err != nil {
			t.Fatalf("%s: GET /login: %v\n%s", when, err, app.Output())
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(page), `name="csrf"`) {
			t.Fatalf("%s: GET /login = %d without a form: %.300s", when, resp.StatusCode, page)
		}
		ui := time.Since(start)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		start = time.Now()
		st, err := ctl.Status(ctx)
		if err != nil || !st.Health.Running {
			t.Fatalf("%s: control socket status: %+v, %v", when, st, err)
		}
		t.Logf("%s: the UI answered in %v, the control socket in %v", when, ui.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}

	open := func(network string, from func(i int) string, addr string) []net.Conn {
		t.Helper()
		var conns []net.Conn
		for i := 0; i < slowConnections; i++ {
			c, err := slowConn(l.BoxNS, network, from(i), addr)
			if err != nil {
				t.Fatalf("slow connection %d: %v", i, err)
			}
			t.Cleanup(func() { c.Close() })
			conns = append(conns, c)
		}
		return conns
	}

	// One client: its connections over the cap are closed at once.
	single := open("tcp", func(int) string { return "127.0.0.2" }, applianceListen)
	if n := closedAtOnce(single, time.Second); n != slowConnections-uiMaxConnsPerClient {
		t.Fatalf("%d of %d connections from one client closed at once, want %d (all over the cap of %d)",
			n, slowConnections, slowConnections-uiMaxConnsPerClient, uiMaxConnsPerClient)
	}
	answers("200 slow connections from one address")

	// Several clients within their caps: all held, and the UI still answers.
	spread := open("tcp", func(i int) string { return fmt.Sprintf("127.0.0.%d", 10+i%8) }, applianceListen)
	if n := closedAtOnce(spread, time.Second); n != 0 {
		t.Fatalf("%d of %d connections from 8 clients within their caps were closed", n, slowConnections)
	}
	answers("200 more slow connections from 8 addresses")

	// The control socket with 200 stalled clients of its own.
	open("unix", func(int) string { return "" }, runtimeDir+"/control.sock")
	answers("200 more slow connections on the control socket")

	// The stalled UI connections are cut off at the header timeout (10 s).
	held := spread
	start := time.Now()
	if n := closedAtOnce(held, 15*time.Second); n != len(held) {
		t.Fatalf("%d of %d stalled connections cut off within 15 s, want all", n, len(held))
	}
	t.Logf("stalled connections cut off %.1fs after the last check", time.Since(start).Seconds())
}
