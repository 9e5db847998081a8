package tests

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/rackwall/rackwall/tests/lab"
)

// Limits of the browser scenario.
const (
	// floodVisibleWithin: the flooder's address must be on the dashboard
	// this soon after the flood starts. Fragments that never complete are
	// violations when their 5 s reassembly deadline passes (F8; hping3's
	// random IP IDs also collide into overlaps, F4, at once), and the
	// dashboard refreshes on the 5 s sampling tick: about 10 s at worst.
	floodVisibleWithin = 12 * time.Second
	// browserConfirmSeconds is the commit-confirm deadline set on the
	// System page for the scenario.
	browserConfirmSeconds = 15
	// blockedPageWait: a page the admin's own rule cuts off must still be
	// loading after this long.
	blockedPageWait = 5 * time.Second
)

// TestBrowserUI drives the appliance's web UI in headless Chromium, the
// way an admin does, on the rack lab. The browser runs in the client
// namespace on the uplink side and reaches the UI on a management address
// behind the bridge, so its traffic crosses the dataplane and the rules can
// cut the admin off:
//
//  1. first run: set the admin password, log out, fail and pass a login;
//  2. a rack server floods with fragments that never complete; its address
//     shows up on the live dashboard (top sources, quarantined);
//  3. its dropped frames download as pcapng from the source's page and
//     hold packets from the flooder;
//  4. a rule with a syntax error is refused and shown at its line and column;
//  5. the commit-confirm deadline is set to 15 s on the System page;
//  6. a harmless change applied and confirmed in time stays after the deadline;
//  7. a change that blocks the admin's own access cuts the page off and
//     rolls back by itself at the deadline; the audit log says so.
//
// Screenshots go to tests/artifacts (dashboard.png, rules.png,
// rules-pending.png, system.png) with the downloaded capture
// (flooder.pcapng).
func TestBrowserUI(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: drives the UI in headless Chromium")
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: network namespaces, the appliance and a browser in the lab")
	}
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Skipf("needs chromium: %v", err)
	}
	lab.RequireTools(t, "hping3", "ethtool")
	start := time.Now()
	last := start
	mark := func(step string) {
		now := time.Now()
		t.Logf("TIMING %-44s %5.1fs (at %5.1fs)", step, now.Sub(last).Seconds(), now.Sub(start).Seconds())
		last = now
	}

	bin := buildAppliance(t)
	mark("build appliance")
	l, err := lab.NewFor(t, lab.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	mgmtIf := addManagementPort(t, l)
	app := startManagedAppliance(t, l, bin, t.TempDir(), mgmtIf)
	base := "http://" + net.JoinHostPort(mgmtAddr.String(), fmt.Sprint(mgmtPort))
	api := newUIClient(t, base, nsTransport(l.ClientNS))
	h := api.waitHealthy(30*time.Second, app.Output)
	// Before the first run there is no token, so /healthz says only
	// healthy or not; healthy means the config is loaded, the dataplane
	// forwards and the UI answers.
	if !h.Healthy {
		t.Fatalf("appliance not healthy: %+v", h)
	}
	mark("lab, management port, appliance healthy")
	b := startBrowser(t, l.ClientNS, base)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("appliance output (tail):\n%s", lastLinesOf(app.Output(), 40))
			t.Logf("browser output (tail, without D-Bus noise):\n%s", lastLinesOf(withoutLines(b.output.String(), "dbus/"), 20))
		}
	})
	mark("chromium started in the client namespace")

	password := "browser test admin password"
	t.Run("1 first run and login", func(t *testing.T) {
		b.t = t
		b.mustOpen("/")
		if p := b.path(); p != "/setup" {
			t.Fatalf("a fresh box shows %s, want the first-run page /setup", p)
		}
		b.must("type the setup code and the new password", 10*time.Second,
			chromedp.SendKeys(chromedp.CSS(`input[name=setup_code]`), setupCodeIn(t, app.Output)),
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
			chromedp.SendKeys(chromedp.CSS(`input[name=password2]`), password))
		b.mustSubmit(`form[action="/setup"] button[type=submit]`, http.StatusOK)
		if p, h1 := b.path(), b.text("main h1"); p != "/" || h1 != "Dashboard" {
			t.Fatalf("after the first run: page %s titled %q, want the dashboard", p, h1)
		}
		b.mustSubmit(`form.logout button[type=submit]`, http.StatusOK)
		if p := b.path(); p != "/login" {
			t.Fatalf("after logging out: page %s, want /login", p)
		}
		b.must("type a wrong password", 10*time.Second,
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "not the password"))
		b.mustSubmit(`form[action="/login"] button[type=submit]`, http.StatusUnauthorized)
		if msg := b.text(`.error[role=alert]`); !strings.Contains(msg, "Wrong password") {
			t.Fatalf("a wrong password shows %q, want a 'Wrong password' error", msg)
		}
		b.must("type the password", 10*time.Second,
			chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password))
		b.mustSubmit(`form[action="/login"] button[type=submit]`, http.StatusOK)
		if p, user := b.path(), b.text("header .user"); p != "/" || user != "admin" {
			t.Fatalf("after logging in: page %s, user %q; want the dashboard as admin", p, user)
		}
	})
	if t.Failed() {
		return
	}
	mark("1 first run, logout, login")

	flooder := lab.ServerV4(3)
	t.Run("2 flooder on the dashboard", func(t *testing.T) {
		b.t = t
		// Fragments that never complete (MF set, offset 0, a random IP ID each),
		// 5000 a second at most: each is a violation when its deadline passes.
		flood, err := l.Start(l.Server(3), "hping3", "-q", "--udp", "-p", "9", "-x", "-d", "1200",
			"-i", "u200", lab.ClientV4.String())
		if err != nil {
			t.Fatal(err)
		}
		floodStart := time.Now()
		defer func() {
			flood.Signal(syscall.SIGINT)
			_ = flood.Wait(2 * time.Second)
			flood.Stop()
			t.Logf("hping3: %s", lastLinesOf(flood.Output(), 3))
		}()
		// The page is not reloaded: live.js refreshes it on each sample
		// and event pushed over server-sent events.
		var inTop, inQuarantine time.Duration
		for time.Since(floodStart) < 2*floodVisibleWithin && (inTop == 0 || inQuarantine == 0) {
			parts := b.texts("#live section.two > div")
			if len(parts) == 2 {
				if inTop == 0 && strings.Contains(parts[0], flooder.String()) {
					inTop = time.Since(floodStart)
					t.Logf("top sources at %v:\n%s", inTop.Round(100*time.Millisecond), parts[0])
				}
				if inQuarantine == 0 && strings.Contains(parts[1], flooder.String()) {
					inQuarantine = time.Since(floodStart)
					t.Logf("quarantined at %v:\n%s", inQuarantine.Round(100*time.Millisecond), parts[1])
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Logf("flooder %s on the dashboard without a reload: top sources after %v, quarantined after %v (0 = never)",
			flooder, inTop.Round(100*time.Millisecond), inQuarantine.Round(100*time.Millisecond))
		first := min(orNever(inTop), orNever(inQuarantine))
		if first > floodVisibleWithin {
			b.mustOpen("/")
			t.Fatalf("the flooder %s was not on the live dashboard within %v (top %v, quarantined %v); after a reload the dashboard shows:\n%s",
				flooder, floodVisibleWithin, inTop, inQuarantine, b.text("#live"))
		}
		if inQuarantine == 0 {
			t.Errorf("the flooder %s never appeared in the quarantined list within %v", flooder, 2*floodVisibleWithin)
		}
		// Let one more 5 s sample land so the chart has the flood in it.
		time.Sleep(5500 * time.Millisecond)
		t.Logf("screenshot: %s", b.screenshot("dashboard.png"))
	})
	if t.Failed() {
		return
	}
	mark("2 flood visible on the dashboard")

	t.Run("3 capture download", func(t *testing.T) {
		b.t = t
		b.mustSubmit(fmt.Sprintf(`#live a[href="/hosts/%s"]`, flooder), http.StatusOK)
		if h1 := b.text("main h1"); h1 != "Source "+flooder.String() {
			t.Fatalf("the source link leads to %s titled %q", b.path(), h1)
		}
		t.Logf("source page, drops by reason:\n%s", b.text("main section.two > div"))
		link := `main a.button[href^="/capture.pcapng"]`
		href, err := evalIn[string](b, fmt.Sprintf(`document.querySelector(%s).getAttribute("href")`, jsString(link)))
		if err != nil || !strings.Contains(href, "source="+flooder.String()) {
			t.Fatalf("download link of the source page: %q, %v", href, err)
		}
		dir := t.TempDir()
		file, err := b.download(link, dir, 30*time.Second)
		if err != nil {
			t.Fatalf("downloading %s: %v", href, err)
		}
		sum, err := readPcapng(file, flooder)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("downloaded %s: %d packets, %d from %s, others %v, Ethernet sources %v, link types %v, %d interfaces",
			href, sum.Packets, sum.FromSource, flooder, sum.Others, sum.SrcMACs, sum.LinkTypes, sum.Interfaces)
		if sum.FromSource == 0 {
			t.Fatalf("the capture of %s holds no packet from it", flooder)
		}
		if sum.FromSource != sum.Packets {
			t.Errorf("the capture filtered by source %s holds other packets: %v", flooder, sum.Others)
		}
		if err := copyArtifact(file, filepath.Join(artifactsDir, "flooder.pcapng")); err != nil {
			t.Error(err)
		}
	})
	mark("3 pcapng downloaded and read")

	t.Run("4 syntax error at line and column", func(t *testing.T) {
		b.t = t
		b.mustOpen("/rules")
		badLine := "pass in proto tcp to any port http"
		text := "# typed in the browser\npass in proto icmp\n" + badLine + "\n"
		wantCol := strings.Index(badLine, "http") + 1
		b.must("type the rules", 10*time.Second, chromedp.SetValue(chromedp.CSS(`textarea[name=rules]`), text))
		b.mustSubmit(`button[name=action][value=check]`, http.StatusBadRequest)
		alert := b.text(`main div.error[role=alert]`)
		want := fmt.Sprintf("Line 3, column %d", wantCol)
		if !strings.HasPrefix(alert, want) || !strings.Contains(alert, `"http"`) {
			t.Errorf("error shown: %q, want it to start with %q and name \"http\"", alert, want)
		}
		lineNo := b.text(`#problem .ln`)
		bad := b.text(`#problem`)
		if lineNo != "3" || strings.TrimPrefix(bad, lineNo) != badLine {
			t.Errorf("listing marks line %q as %q, want line 3: %q", lineNo, bad, badLine)
		}
		caret := b.text(`.listing .caret`)
		if i := strings.Index(caret, "^"); i != wantCol-1 {
			t.Errorf("caret line %q points at column %d, want %d", caret, i+1, wantCol)
		}
		if got := b.value(`textarea[name=rules]`); strings.TrimSpace(got) != strings.TrimSpace(text) {
			t.Errorf("the editor lost the typed text: %q", got)
		}
		t.Logf("error shown: %q; listing line %s: %q; caret %q", alert, lineNo, bad, caret)
		t.Logf("screenshot: %s", b.screenshot("rules.png"))
	})
	mark("4 syntax error shown")

	t.Run("5 set confirm deadline", func(t *testing.T) {
		b.t = t
		b.mustOpen("/system")
		b.must("set the confirm deadline", 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`input[name=confirm_seconds]`), fmt.Sprint(browserConfirmSeconds)))
		b.mustSubmit(`form[action="/system/settings"] button[type=submit]`, http.StatusOK)
		if flash := b.text(".flash"); !strings.Contains(flash, "Settings saved") {
			t.Fatalf("after saving settings: %q", flash)
		}
		b.mustOpen("/rules")
		if btn := b.text(`button[name=action][value=apply]`); !strings.Contains(btn, fmt.Sprintf("%d s", browserConfirmSeconds)) {
			t.Fatalf("apply button says %q, want the %d s deadline", btn, browserConfirmSeconds)
		}
	})
	if t.Failed() {
		return
	}
	mark("5 confirm deadline set on the System page")

	goodRule := fmt.Sprintf("block in proto udp from any to %s port 9999", lab.ServerV4(2))
	t.Run("6 confirmed change stays", func(t *testing.T) {
		b.t = t
		b.mustOpen("/rules")
		b.must("type the rules", 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`textarea[name=rules]`), "# confirmed in the browser\n"+goodRule+"\n"))
		applied := time.Now()
		b.mustSubmit(`button[name=action][value=apply]`, http.StatusOK)
		flash, banner := b.text(".flash"), b.text(".pending")
		if !strings.Contains(flash, fmt.Sprintf("within %d seconds", browserConfirmSeconds)) || banner == "" {
			t.Fatalf("after apply: flash %q, pending banner %q", flash, banner)
		}
		t.Logf("screenshot: %s", b.screenshot("rules-pending.png"))
		// The banner counts down to the deadline while the page is open.
		before := secondsLeft(b.text(".pending"))
		time.Sleep(2100 * time.Millisecond)
		if after := secondsLeft(b.text(".pending")); before <= 0 || after <= 0 || after >= before {
			t.Errorf("the pending banner does not count down: %d s left, 2 s later %d s left (banner %q)", before, after, b.text(".pending"))
		}
		b.mustSubmit(`.pending form[action="/rules/confirm"] button`, http.StatusOK)
		if flash := b.text(".flash"); !strings.Contains(flash, "confirmed") || b.text(".pending") != "" {
			t.Fatalf("after confirm: flash %q, banner %q", flash, b.text(".pending"))
		}
		confirmedAfter := time.Since(applied)
		time.Sleep(time.Until(applied.Add(browserConfirmSeconds*time.Second + 3*time.Second)))
		b.mustOpen("/rules")
		rules := b.value(`textarea[name=rules]`)
		if !strings.Contains(rules, goodRule) || b.text(".pending") != "" {
			t.Fatalf("%v after apply (confirmed after %v) the rules are %q, banner %q",
				time.Since(applied).Round(time.Second), confirmedAfter.Round(100*time.Millisecond), rules, b.text(".pending"))
		}
		t.Logf("confirmed %v after apply; %v after apply the rules still hold %q",
			confirmedAfter.Round(100*time.Millisecond), time.Since(applied).Round(time.Second), goodRule)
	})
	if t.Failed() {
		return
	}
	mark("6 confirmed change kept past the deadline")

	t.Run("7 lockout rolls back", func(t *testing.T) {
		b.t = t
		b.mustOpen("/rules")
		old := b.value(`textarea[name=rules]`)
		if !strings.Contains(old, goodRule) {
			t.Fatalf("rules before the lockout: %q", old)
		}
		block := fmt.Sprintf("block in proto tcp from %s to %s port %d", lab.ClientV4, mgmtAddr, mgmtPort)
		b.must("type the rules", 10*time.Second,
			chromedp.SetValue(chromedp.CSS(`textarea[name=rules]`), block+"\n"+old))
		applied := time.Now()
		// The answer to this very click may never arrive: do not wait for it.
		b.must("click apply", 10*time.Second, chromedp.Click(chromedp.CSS(`button[name=action][value=apply]`)))
		time.Sleep(500 * time.Millisecond)
		status, err := b.open("/rules", blockedPageWait)
		if err == nil {
			t.Fatalf("the UI still answered (status %d) after the admin's own access was blocked", status)
		}
		t.Logf("with the blocking rule running, /rules did not load within %v: %v", blockedPageWait, err)
		if c, err := lab.Dial(l.ClientNS, "tcp", net.JoinHostPort(mgmtAddr.String(), fmt.Sprint(mgmtPort)), 2*time.Second); err == nil {
			c.Close()
			t.Fatal("a plain TCP connection from the client still reaches the UI under the blocking rule")
		}
		deadline := applied.Add(browserConfirmSeconds * time.Second)
		// Still cut off shortly before the deadline: what heals it is the
		// rollback, not time.
		time.Sleep(time.Until(deadline.Add(-3 * time.Second)))
		if c, err := lab.Dial(l.ClientNS, "tcp", net.JoinHostPort(mgmtAddr.String(), fmt.Sprint(mgmtPort)), time.Second); err == nil {
			c.Close()
			t.Fatalf("the UI was reachable again %v after apply, before the %d s deadline", time.Since(applied).Round(100*time.Millisecond), browserConfirmSeconds)
		}
		time.Sleep(time.Until(deadline.Add(time.Second)))
		status, err = b.open("/rules", 25*time.Second)
		if err != nil || status != http.StatusOK {
			t.Fatalf("%v after the deadline /rules still does not load: status %d, %v", time.Since(deadline).Round(100*time.Millisecond), status, err)
		}
		t.Logf("/rules loaded again %v after apply (deadline %d s)", time.Since(applied).Round(100*time.Millisecond), browserConfirmSeconds)
		if got := b.value(`textarea[name=rules]`); got != old {
			t.Errorf("after the rollback the rules are %q, want the old ones %q", got, old)
		}
		if banner := b.text(".pending"); banner != "" {
			t.Errorf("a pending banner is still shown after the rollback: %q", banner)
		}
		b.mustOpen("/system")
		var audit string
		for _, row := range b.texts("table tbody tr") {
			if strings.Contains(row, "reverted") {
				audit = row
				break
			}
		}
		if !strings.Contains(audit, "not confirmed before the deadline") {
			t.Errorf("the audit log has no rollback by the deadline; its rows:\n%s", strings.Join(b.texts("table tbody tr"), "\n"))
		}
		t.Logf("audit: %q", audit)
		t.Logf("screenshot: %s", b.screenshot("system.png"))
	})
	mark("7 lockout rolled back by itself")
	t.Logf("whole scenario %.1fs", time.Since(start).Seconds())
}

var timeLeftText = regexp.MustCompile(`(?:(\d+)m )?(\d+)s left`)

// secondsLeft reads "1m 05s left" or "15s left" in a banner; -1 if absent.
func secondsLeft(banner string) int {
	m := timeLeftText.FindStringSubmatch(banner)
	if m == nil {
		return -1
	}
	mins, _ := strconv.Atoi(m[1])
	secs, _ := strconv.Atoi(m[2])
	return 60*mins + secs
}

func orNever(d time.Duration) time.Duration {
	if d == 0 {
		return time.Hour
	}
	return d
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// withoutLines drops the lines that contain substr: headless Chromium
// complains about the missing system bus many times a second.
func withoutLines(s, substr string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if !strings.Contains(line, substr) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func copyArtifact(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
