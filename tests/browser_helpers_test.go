package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rackwall/rackwall/tests/lab"
)

// chromiumPath is Debian's Chromium, the browser the UI test drives.
const chromiumPath = "/usr/bin/chromium"

// The appliance's management address in the browser test. It sits on the
// rack side of the bridge, so the admin's browser on the uplink side reaches
// the UI only through the dataplane, as on a box managed in band.
var mgmtAddr = netip.MustParseAddr("10.77.0.250")

const mgmtPort = 8443

// artifactsDir receives the screenshots and the downloaded capture of the
// browser test (relative to the tests folder, where go test runs).
const artifactsDir = "artifacts"

// addManagementPort gives the box namespace a management interface: a veth
// whose peer is plugged into the rack-side switch, addressed with mgmtAddr.
// It returns the interface name in the box namespace.
func addManagementPort(t *testing.T, l *lab.Lab) string {
	t.Helper()
	boxIf, switchIf := "mg-"+l.ID, "pm-"+l.ID
	run := func(ns string, args ...string) {
		t.Helper()
		if _, err := l.Exec(ns, args...); err != nil {
			t.Fatal(err)
		}
	}
	run("", "ip", "link", "add", boxIf, "netns", l.BoxNS, "type", "veth", "peer", "name", switchIf, "netns", l.SwitchNS)
	// Frames of the box's own TCP cross the dataplane's rack port: with
	// offloads on they would leave with checksums still to be filled in.
	for _, dev := range []struct{ ns, name string }{{l.BoxNS, boxIf}, {l.SwitchNS, switchIf}} {
		for _, feature := range []string{"tx", "rx", "tso", "gso", "gro", "sg"} {
			// A feature the device has fixed cannot be changed; that is fine.
			_, _ = l.ExecTimeout(10*time.Second, dev.ns, "ethtool", "-K", dev.name, feature, "off")
		}
	}
	run(l.SwitchNS, "ip", "link", "set", switchIf, "master", l.SwitchBridge, "up")
	run(l.BoxNS, "ip", "addr", "add", mgmtAddr.String()+"/24", "dev", boxIf)
	run(l.BoxNS, "ip", "link", "set", boxIf, "up")
	return boxIf
}

// startManagedAppliance runs rackwall in the box namespace serving its UI
// over plain HTTP on the management address.
func startManagedAppliance(t *testing.T, l *lab.Lab, bin, state, mgmtIf string) *lab.Proc {
	t.Helper()
	listen := net.JoinHostPort(mgmtAddr.String(), fmt.Sprint(mgmtPort))
	p, err := l.Start(l.BoxNS, bin+"/rackwall", "--uplink", l.UplinkPort, "--rack", l.RackPort,
		"--mgmt", mgmtIf, "--state", state, "--listen", listen, "--http")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// nsTransport makes HTTP connections from inside namespace ns.
func nsTransport(ns string) *http.Transport {
	return &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return lab.Dial(ns, network, addr, 5*time.Second)
		},
	}
}

// browserTab is one tab of a headless Chromium running in a lab namespace.
type browserTab struct {
	t      *testing.T
	ctx    context.Context
	base   string
	output *lab.SyncBuffer
}

// startBrowser starts Chromium inside namespace ns (through `ip netns exec`,
// talking to chromedp over the DevTools pipe, which needs no socket and so
// crosses the namespace boundary) with a fresh profile. base is the UI's URL
// without a trailing slash.
func startBrowser(t *testing.T, ns, base string) *browserTab {
	t.Helper()
	ipPath, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("needs ip: not found on PATH")
	}
	profile := t.TempDir()
	out := &lab.SyncBuffer{}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-default-browser-check", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 1000),
		chromedp.CombinedOutput(out),
		chromedp.ModifyCmdFunc(func(cmd *exec.Cmd) {
			cmd.Args = append([]string{"ip", "netns", "exec", ns, cmd.Path}, cmd.Args[1:]...)
			cmd.Path = ipPath
			// The browser dies with the test binary, whatever happens.
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		}),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
	})
	// The first run starts the browser; it must not carry a timeout, which
	// would bound the browser's whole life.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s in %s: %v\n%s", chromiumPath, ns, err, out.String())
	}
	return &browserTab{t: t, ctx: ctx, base: base, output: out}
}

// do runs steps with a deadline.
func (b *browserTab) do(d time.Duration, steps ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	return chromedp.Do(ctx, steps...)
}

// must runs steps with a deadline and fails the test on error.
func (b *browserTab) must(what string, d time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := b.do(d, steps...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// open navigates to path, waits for the page to load and returns the
// status of the document.
func (b *browserTab) open(path string, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(b.base+path))
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}

// mustOpen is open that fails the test unless the page loads with 200.
func (b *browserTab) mustOpen(path string) {
	b.t.Helper()
	status, err := b.open(path, 15*time.Second)
	if err != nil || status != http.StatusOK {
		b.t.Fatalf("open %s: status %d, %v", path, status, err)
	}
}

// submit clicks a button (or link) that loads a new page and returns the
// status of the page it ends on.
func (b *browserTab) submit(selector string, d time.Duration) (int64, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	var resp *network.Response
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(selector)))
	if err != nil {
		return 0, err
	}
	return resp.Status, nil
}

// mustSubmit is submit that fails the test unless the page loads with want.
func (b *browserTab) mustSubmit(selector string, want int64) {
	b.t.Helper()
	status, err := b.submit(selector, 15*time.Second)
	if err != nil || status != want {
		b.t.Fatalf("click %s: status %d (want %d), %v; now at %s: %.400q", selector, status, want, err, b.path(), b.text("main"))
	}
}

// eval evaluates a JavaScript expression in the page.
func evalIn[T any](b *browserTab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func jsString(s string) string {
	q, _ := json.Marshal(s)
	return string(q)
}

// text is the rendered text of the first element matching selector, "" if
// there is none.
func (b *browserTab) text(selector string) string {
	s, err := evalIn[string](b, fmt.Sprintf(`(function(){const e=document.querySelector(%s);return e?e.innerText:""})()`, jsString(selector)))
	if err != nil {
		return ""
	}
	return s
}

// texts is the rendered text of every element matching selector.
func (b *browserTab) texts(selector string) []string {
	s, err := evalIn[[]string](b, fmt.Sprintf(`Array.from(document.querySelectorAll(%s), e => e.innerText)`, jsString(selector)))
	if err != nil {
		return nil
	}
	return s
}

// value is the .value of the first element matching selector.
func (b *browserTab) value(selector string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(selector)))
	if err != nil {
		b.t.Fatalf("value of %s: %v", selector, err)
	}
	return v
}

// path is the path of the page shown now.
func (b *browserTab) path() string {
	p, _ := evalIn[string](b, `location.pathname`)
	return p
}

// screenshot writes a full-page PNG to the artifacts folder.
func (b *browserTab) screenshot(name string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	// Quality 100 is what makes chromedp ask for PNG rather than JPEG.
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		b.t.Fatalf("screenshot %s: the browser did not return a PNG", name)
	}
	if err := os.MkdirAll(artifactsDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	p := filepath.Join(artifactsDir, name)
	if err := os.WriteFile(p, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	abs, _ := filepath.Abs(p)
	return abs
}

// download clicks a link that downloads a file and waits for the browser to
// finish writing it into dir; it returns the file's path.
func (b *browserTab) download(selector, dir string, d time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior:      browser.SetDownloadBehaviorBehaviorAllowAndName,
		DownloadPath:  dir,
		EventsEnabled: new(true),
	})
	if err != nil {
		return "", fmt.Errorf("setting the download folder: %w", err)
	}
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(selector))); err != nil {
		return "", fmt.Errorf("clicking %s: %w", selector, err)
	}
	for ev, err := range progress {
		if err != nil {
			return "", fmt.Errorf("waiting for the download: %w", err)
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			// allowAndName names the file by its GUID.
			return filepath.Join(dir, ev.GUID), nil
		case browser.DownloadProgressStateCanceled:
			return "", errors.New("the browser canceled the download")
		}
	}
	return "", errors.New("download events ended before the download completed")
}

// pcapngSummary is what a downloaded capture holds.
type pcapngSummary struct {
	Packets    int
	FromSource int            // packets whose IPv4 source is the one asked about
	Others     map[string]int // other IPv4 sources (or "non-IPv4") and their counts
	Interfaces int            // interface descriptions in the file
	LinkTypes  map[string]int // link types of the packets
	SrcMACs    map[string]int // Ethernet sources of the packets
}

// readPcapng opens a pcapng file with gopacket's pcapgo.NgReader and counts
// the packets whose IPv4 source is src.
func readPcapng(path string, src netip.Addr) (pcapngSummary, error) {
	s := pcapngSummary{Others: map[string]int{}, LinkTypes: map[string]int{}, SrcMACs: map[string]int{}}
	f, err := os.Open(path)
	if err != nil {
		return s, err
	}
	defer f.Close()
	r, err := pcapgo.NewNgReader(f, pcapgo.DefaultNgReaderOptions)
	if err != nil {
		return s, fmt.Errorf("%s is not pcapng: %w", path, err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("%s: packet %d: %w", path, s.Packets+1, err)
		}
		s.Packets++
		lt := layers.LinkTypeEthernet
		if ci.InterfaceIndex >= 0 && ci.InterfaceIndex < r.NInterfaces() {
			if intf, err := r.Interface(ci.InterfaceIndex); err == nil {
				lt = intf.LinkType
			}
		}
		s.LinkTypes[lt.String()]++
		pkt := gopacket.NewPacket(data, lt, gopacket.Default)
		if eth, ok := pkt.Layer(layers.LayerTypeEthernet).(*layers.Ethernet); ok {
			s.SrcMACs[eth.SrcMAC.String()]++
		}
		ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4)
		if !ok {
			s.Others["non-IPv4"]++
			continue
		}
		if a, ok := netip.AddrFromSlice(ip4.SrcIP.To4()); ok && a == src {
			s.FromSource++
		} else {
			s.Others[ip4.SrcIP.String()]++
		}
	}
	s.Interfaces = r.NInterfaces()
	return s, nil
}
