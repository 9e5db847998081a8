package tests

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// buildAppliance compiles rackwall and rackwall-dataplane into one folder
// of the test (the appliance finds the dataplane next to itself, as on the
// image); the folder goes away with the test.
func buildAppliance(t *testing.T) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+"/", "./appliance/cmd/rackwall", "./dataplane/cmd/rackwall-dataplane")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// uiClient talks to the appliance's web UI and API like a browser (cookies,
// CSRF) until it has an API token, then with the token.
type uiClient struct {
	t     *testing.T
	base  string
	hc    *http.Client
	token string
}

func newUIClient(t *testing.T, base string, transport http.RoundTripper) *uiClient {
	jar, _ := cookiejar.New(nil)
	if transport == nil {
		transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	return &uiClient{t: t, base: base, hc: &http.Client{
		Transport: transport, Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (c *uiClient) do(method, path string, body io.Reader, hdr map[string]string) (int, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, body)
	if err != nil {
		return 0, nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// mustDo is do that fails the test unless the status is want.
func (c *uiClient) mustDo(method, path, body string, want int) []byte {
	c.t.Helper()
	code, b, err := c.do(method, path, strings.NewReader(body), nil)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	if code != want {
		c.t.Fatalf("%s %s = %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// changeSettings reads the box's settings (GET /api/config), lets change
// alter them, and puts them back (PUT /api/settings).
func (c *uiClient) changeSettings(change func(settings map[string]any)) {
	c.t.Helper()
	var current struct {
		Settings map[string]any `json:"settings"`
	}
	if err := json.Unmarshal(c.mustDo("GET", "/api/config", "", http.StatusOK), &current); err != nil {
		c.t.Fatal(err)
	}
	change(current.Settings)
	body, err := json.Marshal(current.Settings)
	if err != nil {
		c.t.Fatal(err)
	}
	c.mustDo("PUT", "/api/settings", string(body), http.StatusOK)
}

var csrfInput = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *uiClient) csrfFrom(path string) string {
	c.t.Helper()
	code, b, err := c.do("GET", path, nil, nil)
	if err != nil || code != http.StatusOK {
		c.t.Fatalf("GET %s = %d %v: %s", path, code, err, b)
	}
	m := csrfInput.FindSubmatch(b)
	if m == nil {
		c.t.Fatalf("GET %s: no CSRF token in the page", path)
	}
	return string(m[1])
}

// setupCodeRe finds the first-run setup code in what the appliance prints.
var setupCodeRe = regexp.MustCompile(`first-run setup code +([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4})`)

// setupCodeIn returns the last setup code printed in out (a serial log or
// the appliance's output), waiting up to a minute for it to appear.
func setupCodeIn(t *testing.T, out func() string) string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if m := setupCodeRe.FindAllStringSubmatch(out(), -1); m != nil {
			return m[len(m)-1][1]
		}
		if time.Now().After(deadline) {
			t.Fatal("the box printed no first-run setup code")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// serialText reads a VM's serial console log as it grows.
func serialText(vm *qemu.VM) func() string {
	return func() string {
		b, _ := os.ReadFile(vm.SerialLog)
		return string(b)
	}
}

// firstRun sets the admin password through the first-run page, as a
// browser does, with the setup code the box printed on its console, then
// creates an API token with the logged-in session and uses it from then on.
func (c *uiClient) firstRun(password, setupCode string) {
	c.t.Helper()
	if code, _, err := c.do("GET", "/", nil, nil); err != nil || code != http.StatusSeeOther {
		c.t.Fatalf("GET / before setup = %d %v, want a redirect to /setup", code, err)
	}
	csrf := c.csrfFrom("/setup")
	form := url.Values{"csrf": {csrf}, "setup_code": {setupCode}, "password": {password}, "password2": {password}}
	code, b, err := c.do("POST", "/setup", strings.NewReader(form.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if err != nil || code != http.StatusSeeOther {
		c.t.Fatalf("POST /setup = %d %v: %s", code, err, b)
	}
	// The API answers a session only with its CSRF token on unsafe methods.
	csrf = c.csrfFrom("/")
	code, b, err = c.do("POST", "/api/tokens", strings.NewReader(`{"name":"lab"}`),
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf})
	if err != nil || code != http.StatusCreated {
		c.t.Fatalf("POST /api/tokens = %d %v: %s", code, err, b)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		c.t.Fatalf("token answer %s: %v", b, err)
	}
	c.token = tok.Token
	c.hc.Jar, _ = cookiejar.New(nil) // from now on the token alone
}

// healthz is the decoded GET /healthz.
type healthz struct {
	Code         int
	Healthy      bool   `json:"healthy"`
	ConfigLoaded bool   `json:"config_loaded"`
	Dataplane    string `json:"dataplane"`
	Reason       string `json:"reason"`
	Restarts     int    `json:"dataplane_restarts"`
	Bypass       bool   `json:"bypass"`
	UI           bool   `json:"ui"`
	Ports        []struct {
		Name string `json:"name"`
		Up   bool   `json:"up"`
	} `json:"ports"`
}

func (c *uiClient) healthz() (healthz, error) {
	// A box that is rebooting must not hold the poll for the client's
	// long timeout.
	hc := *c.hc
	hc.Timeout = 5 * time.Second
	saved := c.hc
	c.hc = &hc
	code, b, err := c.do("GET", "/healthz", nil, nil)
	c.hc = saved
	if err != nil {
		return healthz{}, err
	}
	// Without a token the box says only healthy or unhealthy; the
	// details need the token.
	if c.token == "" {
		word := strings.TrimSpace(string(b))
		if word != "healthy" && word != "unhealthy" {
			return healthz{}, fmt.Errorf("anonymous healthz %d %q: want healthy or unhealthy", code, b)
		}
		return healthz{Code: code, Healthy: word == "healthy"}, nil
	}
	var h healthz
	if err := json.Unmarshal(b, &h); err != nil {
		return healthz{}, fmt.Errorf("healthz %d %q: %w", code, b, err)
	}
	h.Code = code
	return h, nil
}

// waitHealthy polls /healthz until it answers 200 or d passes.
func (c *uiClient) waitHealthy(d time.Duration, output func() string) healthz {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var h healthz
	var err error
	for time.Now().Before(deadline) {
		h, err = c.healthz()
		if err == nil && h.Code == http.StatusOK {
			return h
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := ""
	if output != nil {
		out = output()
	}
	c.t.Fatalf("/healthz not 200 within %s: last %+v, %v\n%s", d, h, err, out)
	return h
}

func (c *uiClient) metrics() lab.Metrics {
	c.t.Helper()
	b := c.mustDo("GET", "/metrics", "", http.StatusOK)
	m, err := lab.ParseMetrics(string(b))
	if err != nil {
		c.t.Fatal(err)
	}
	return m
}

// apiEvents returns the messages of the recent events.
func (c *uiClient) eventMessages() string {
	c.t.Helper()
	b := c.mustDo("GET", "/api/events", "", http.StatusOK)
	var evs []struct {
		Kind    string `json:"kind"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &evs); err != nil {
		c.t.Fatalf("events %s: %v", b, err)
	}
	var buf bytes.Buffer
	for _, e := range evs {
		fmt.Fprintf(&buf, "%s: %s\n", e.Kind, e.Message)
	}
	return buf.String()
}

// pingLoss is the result of a ping run every interval.
type pingLoss struct {
	Sent, Received int
}

var pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) (?:packets )?received`)

func parsePing(out string) (pingLoss, error) {
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		return pingLoss{}, fmt.Errorf("no ping summary in %q", out)
	}
	var p pingLoss
	fmt.Sscan(m[1], &p.Sent)
	fmt.Sscan(m[2], &p.Received)
	return p, nil
}

// pingGap waits up to wait for a ping run every 100 ms to finish and returns
// about how long traffic stopped (100 ms per lost reply), after logging the
// counts.
func pingGap(t *testing.T, pinger *lab.Proc, wait time.Duration) time.Duration {
	t.Helper()
	if err := pinger.Wait(wait); err != nil && !strings.Contains(pinger.Output(), "received") {
		t.Fatalf("ping: %v\n%s", err, pinger.Output())
	}
	loss, err := parsePing(pinger.Output())
	if err != nil {
		t.Fatal(err)
	}
	gap := time.Duration(loss.Sent-loss.Received) * 100 * time.Millisecond
	t.Logf("ping every 100 ms across the kill and the return: %d sent, %d received: about %v without traffic", loss.Sent, loss.Received, gap)
	return gap
}

func writeTempFile(t *testing.T, name, text string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// arpScript asks, from an interface, who has each address given and prints
// every answer as "reply <ip> <mac>".
const arpScript = `
import sys
from scapy.all import Ether, ARP, srp
iface, targets = sys.argv[1], sys.argv[2:]
ans, _ = srp([Ether(dst="ff:ff:ff:ff:ff:ff") / ARP(pdst=t) for t in targets], iface=iface, timeout=3, verbose=False)
for _, r in ans:
    print("reply", r[ARP].psrc, r[Ether].src)
`

// arpReplies sends ARP requests for targets from the client and returns
// the answers as "ip mac".
func arpReplies(t *testing.T, l *lab.Lab, targets ...string) []string {
	t.Helper()
	out, err := l.Exec(l.ClientNS, append([]string{"/usr/bin/python3", "-c", arpScript, l.ClientIf}, targets...)...)
	if err != nil {
		t.Fatalf("scapy arp: %v\n%s", err, out)
	}
	var replies []string
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "reply "); ok {
			replies = append(replies, rest)
		}
	}
	return replies
}
