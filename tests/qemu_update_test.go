package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// TestQemuUpdate drives A/B updates through a booted image, chained in as
// few boots as the scenarios allow:
//
//	VM 1 (v1 on slot A): gokrazy's update endpoints are not reachable; bad
//	  signature, other board, truncated and corrupted bundles are refused
//	  and slot B stays byte for byte as it was; then a good upload is cut
//	  off by killing qemu while the root streams into slot B.
//	VM 2 (same disk): boots v1 again and says the write was interrupted;
//	  the retry with the push command, under a fragment flood, ends on v2
//	  blessed; a reboot keeps v2.
//	v3 whose appliance never gets its dataplane up fails its
//	  health check and the box ends on v2 by itself, saying why; v4 whose
//	  kernel panics at boot (init= missing, panic=10) runs out of tries and
//	  the box ends on v2.
func TestQemuUpdate(t *testing.T) {
	skipUnlessQemu(t, "boots the image under qemu, several times")
	lab.RequireTools(t, "hping3")
	board, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	disk, err := layout.New(board)
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	keys := qemuUpdateKeys(t)
	otherKey := newUpdateKeys(t)

	// Version 1 as a disk image (the run's shared one, which trusts keys);
	// version 2 (and the failing ones) as bundles.
	img := qemuDisk(t)
	v2 := slotParts(t, board, 2, keys)
	good := writeBundle(t, filepath.Join(work, "v2.bundle"), keys.priv, board.Name, 2, v2.Kernel, v2.EntryTemplate, v2.Root)
	goodBytes, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	push := buildPushCommand(t, work)

	l, err := lab.NewFor(t, lab.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	taps := useLabTaps(t, l)
	httpsPort := freeTCPPort(t)
	box := fmt.Sprintf("https://127.0.0.1:%d", httpsPort)
	boot := func(name string) *qemu.VM {
		t.Helper()
		return taps.boot(qemu.Options{Image: img, WorkDir: filepath.Join(work, name),
			Forwards: []qemu.Forward{{Host: httpsPort, Guest: 443}}, Output: &tLog{t: t, prefix: name + ": "}})
	}

	// --- VM 1 ---
	vm := boot("vm1")
	ui := newUIClient(t, box, nil)
	password := "update-test-password"
	ui.firstBoot(vm, password)
	pwFile := writeTempFile(t, "pw", password+"\n")
	// The side door: gokrazy's /update/root and /reboot answer only as
	// rackwall's own (authenticated) UI, never as gokrazy's handlers.
	anon := newUIClient(t, box, nil)
	for _, p := range []string{"/update/root", "/update/boot", "/update/switch", "/reboot"} {
		code, b, err := anon.do("POST", p, strings.NewReader("x"), nil)
		if err != nil {
			t.Fatalf("POST %s: %v", p, err)
		}
		if code == http.StatusOK || strings.Contains(string(b), "gokrazy") {
			t.Errorf("POST %s on the management port = %d %q: gokrazy's handler is reachable", p, code, b)
		}
	}

	st, err := ui.updateStatus()
	if err != nil {
		t.Fatal(err)
	}
	if st.Running != "a" || st.RunningVersion != 1 {
		t.Fatalf("fresh box: %+v", st)
	}

	// Refusals before anything is written.
	slotB := disk.Parts[layout.PartRootB-1]
	before := slotHash(t, img, slotB)
	corrupt := append([]byte(nil), goodBytes...)
	corrupt[len(corrupt)-4096] ^= 0x55 // inside the root part, the last part
	bad := map[string]struct {
		body []byte
		want string
	}{
		"bad signature": {readFile(t, writeBundle(t, filepath.Join(work, "badsig.bundle"), otherKey.priv, board.Name, 2, v2.Kernel, v2.EntryTemplate, v2.Root)), "bad signature"},
		"other board":   {readFile(t, writeBundle(t, filepath.Join(work, "rpi.bundle"), keys.priv, "rpi4", 2, v2.Kernel, v2.EntryTemplate, v2.Root)), "board"},
		"truncated":     {goodBytes[:len(goodBytes)/2], "truncated"},
		"corrupted":     {corrupt, "corrupted"},
		"downgrade":     {readFile(t, writeBundle(t, filepath.Join(work, "v1.bundle"), keys.priv, board.Name, 1, v2.Kernel, v2.EntryTemplate, v2.Root)), "not newer"},
	}
	for name, c := range bad {
		code, body := ui.upload(c.body)
		if code != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) {
			t.Errorf("%s: %d %s, want 422 mentioning %q", name, code, body, c.want)
		}
	}
	if slotHash(t, img, slotB) != before {
		t.Fatal("a refused bundle changed slot B")
	}

	// Power cut while the root streams into slot B.
	go ui.upload(goodBytes)
	cutAt := ui.waitStatus(5*time.Minute, "writing slot B", func(s updateStatus) bool {
		return s.Progress.Phase == "writing" && s.Progress.Done > 0
	}, serialTail(vm, 40))
	taps.powerOff(vm)
	t.Logf("qemu killed while writing slot B (%d of %d bytes)", cutAt.Progress.Done, cutAt.Progress.Total)

	// --- VM 2 ---
	vm = boot("vm2")
	ui = newUIClient(t, box, nil)
	ui.waitHealthy(5*time.Minute, serialTail(vm, 60))
	ui.login(password)
	st = ui.waitStatus(time.Minute, "the interrupted update reported", func(s updateStatus) bool {
		return s.Last != nil && s.Last.Result == "failed"
	}, serialTail(vm, 40))
	if st.Running != "a" || st.RunningVersion != 1 || !strings.Contains(st.Last.Reason, "interrupted") {
		t.Fatalf("after the power cut: %+v %+v", st, st.Last)
	}

	// The retry, with the push command, while a server floods fragments.
	flood, err := l.Start(l.Server(3), "hping3", "-q", "--udp", "-p", "9", "-x", "-d", "1200", "-i", "u500", lab.ClientV4.String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := pushBundle(ctx, push, box, pwFile, good)
	flood.Stop()
	t.Logf("rackwall-update v2:\n%s", out)
	if err != nil {
		t.Fatalf("push of v2 failed: %v\n%s", err, serialTail(vm, 60)())
	}
	t.Logf("update v1→v2 under a fragment flood: upload to blessed %.1fs", time.Since(start).Seconds())
	ui.login(password)
	st, err = ui.updateStatus()
	if err != nil || st.Running != "b" || st.RunningVersion != 2 || !st.Blessed || st.Last == nil || st.Last.Result != "success" {
		t.Fatalf("after v2: %+v %+v %v", st, st.Last, err)
	}
	t.Logf("box-side duration upload→blessed: %.1fs", st.Last.DurationS)

	// A power cycle keeps v2.
	taps.powerOff(vm)
	vm = boot("vm3")
	ui = newUIClient(t, box, nil)
	ui.waitHealthy(5*time.Minute, serialTail(vm, 60))
	ui.login(password)
	st, err = ui.updateStatus()
	if err != nil || st.Running != "b" || st.RunningVersion != 2 || !st.Blessed || st.Trial {
		t.Fatalf("after a power cycle: %+v %v", st, err)
	}

	// pushAndFallBack pushes a bundle whose version must fail after it is
	// installed and waits until the box runs v2 again and reports the
	// failure; it returns that status and the push command's output.
	pushAndFallBack := func(version int64, what, bundle string) (updateStatus, string) {
		t.Helper()
		start := time.Now()
		out, err := pushBundle(ctx, push, box, pwFile, bundle)
		t.Logf("rackwall-update v%d (%s):\n%s", version, what, out)
		if err == nil {
			t.Fatalf("push of v%d (%s) exited 0", version, what)
		}
		ui.login(password)
		st := ui.waitStatus(3*time.Minute, fmt.Sprintf("fallback from v%d", version), func(s updateStatus) bool {
			return s.RunningVersion == 2 && s.Last != nil && s.Last.Version == version && s.Last.Result == "failed"
		}, serialTail(vm, 60))
		t.Logf("v%d fell back to v2 in %.1fs: %s", version, time.Since(start).Seconds(), st.Last.Reason)
		return st, out
	}

	// v3: the appliance never gets its dataplane up; the health check fails.
	v3 := slotParts(t, board, 3, keys, "--dataplane=/user/no-such-dataplane")
	sick := writeBundle(t, filepath.Join(work, "v3.bundle"), keys.priv, board.Name, 3, v3.Kernel, v3.EntryTemplate, v3.Root)
	st, out = pushAndFallBack(3, "unhealthy", sick)
	if !strings.Contains(st.Last.Reason, "health check") || !strings.Contains(out, "health check") {
		t.Errorf("v3 reason %q / push output does not say why", st.Last.Reason)
	}

	// v4: the kernel panics (init= names nothing; panic=10 reboots).
	tmpl, err := layout.SlotEntryTemplate(board, "4", "init=/no-such-init")
	if err != nil {
		t.Fatal(err)
	}
	panicky := writeBundle(t, filepath.Join(work, "v4.bundle"), keys.priv, board.Name, 4, v2.Kernel, tmpl, v2.Root)
	st, _ = pushAndFallBack(4, "kernel panic", panicky)
	if !strings.Contains(st.Last.Reason, "never passed its trial boot") {
		t.Errorf("v4 reason %q", st.Last.Reason)
	}
	if serial, _ := os.ReadFile(vm.SerialLog); !strings.Contains(string(serial), "Kernel panic") {
		t.Error("the serial console shows no kernel panic")
	}
}

// waitDown waits until the box stops answering.
func (c *uiClient) waitDown(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if _, err := c.healthz(); err != nil {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	c.t.Fatalf("the box did not go down within %s", d)
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// login gets a fresh API token with the admin password (the box's
// sessions do not survive a reboot; tokens do, but a fresh one is cheap).
// login logs in with the password and switches the client to a fresh API
// token. After a failed trial the box may still be rebooting back into its
// old slot, so connection failures are retried until it answers again.
func (c *uiClient) login(password string) {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for {
		err := c.tryLogin(password)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("login: %v", err)
		}
		time.Sleep(2 * time.Second)
	}
}

func (c *uiClient) tryLogin(password string) error {
	c.token = ""
	c.hc.Timeout = 2 * time.Minute // bcrypt under software emulation
	defer func() { c.hc.Timeout = 20 * time.Second }()
	csrf, err := c.tryCSRF("/login")
	if err != nil {
		return err
	}
	form := "csrf=" + csrf + "&password=" + password
	code, b, err := c.do("POST", "/login", strings.NewReader(form), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if err != nil || code != http.StatusSeeOther {
		return fmt.Errorf("POST /login = %d %v: %s", code, err, b)
	}
	if csrf, err = c.tryCSRF("/"); err != nil {
		return err
	}
	code, b, err = c.do("POST", "/api/tokens", strings.NewReader(`{"name":"update-test"}`),
		map[string]string{"Content-Type": "application/json", "X-CSRF-Token": csrf})
	if err != nil || code != http.StatusCreated {
		return fmt.Errorf("POST /api/tokens = %d %v: %s", code, err, b)
	}
	var tok struct{ Token string }
	if err := json.Unmarshal(b, &tok); err != nil || tok.Token == "" {
		return fmt.Errorf("token answer %s: %v", b, err)
	}
	c.token = tok.Token
	return nil
}

// tryCSRF is csrfFrom for a box that may not be answering yet.
func (c *uiClient) tryCSRF(path string) (string, error) {
	code, b, err := c.do("GET", path, nil, nil)
	if err != nil || code != http.StatusOK {
		return "", fmt.Errorf("GET %s = %d %v", path, code, err)
	}
	m := csrfInput.FindSubmatch(b)
	if m == nil {
		return "", fmt.Errorf("GET %s: no CSRF token in the page", path)
	}
	return string(m[1]), nil
}
