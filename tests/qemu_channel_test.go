package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/channel"
	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// qemuHostAddr is the build host as qemu's user networking shows it to the
// guest.
const qemuHostAddr = "10.0.2.2"

// TestQemuChannel boots version 1 under qemu, points its update_channel at
// an https server on the build host (reached through qemu's user
// networking; the image trusts the test's CA through its certificate
// bundle, the way a box trusts a real channel's), asks for a check, and
// sees version 2 installed, booted on trial and blessed.
func TestQemuChannel(t *testing.T) {
	skipUnlessQemu(t, "builds an image and boots it under qemu")
	board, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	keys := newUpdateKeys(t)

	caPEM, cert := testServerCert(t, qemuHostAddr)
	hostCAs, err := os.ReadFile(image.DefaultCABundle)
	if err != nil {
		t.Skipf("needs the host's certificate bundle for the image: %v", err)
	}
	bundleFile := filepath.Join(work, "ca-bundle.crt")
	if err := os.WriteFile(bundleFile, append(append(hostCAs, '\n'), caPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(work, "disk.img")
	start := time.Now()
	buildImage(t, board.Name, img, func(c *image.Config) {
		c.Version = "1"
		c.UpdateKeys = map[string][]byte{"test.pub": keys.pubTxt}
		c.CABundle = bundleFile
	})
	t.Logf("image v1 with the test CA built in %.1fs", time.Since(start).Seconds())
	v2 := slotParts(t, board, 2, keys)
	b := readFile(t, writeBundle(t, filepath.Join(work, "v2.bundle"), keys.priv, board.Name, 2, v2.Kernel, v2.EntryTemplate, v2.Root))

	// The channel, on the host's loopback, which the guest reaches as
	// qemuHostAddr.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	srv := serveFilesTLS(t, ln, cert)
	base := fmt.Sprintf("https://%s:%d", qemuHostAddr, port)
	sum := sha256.Sum256(b)
	srv.put("/qemu-amd64-2.bundle", b)
	idx, err := channel.Sign(channel.Index{Format: channel.FormatVersion, Channel: "stable", Sequence: 1, Issued: time.Now().UTC(),
		Entries: []channel.Entry{{Board: board.Name, Version: 2, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]), URL: base + "/qemu-amd64-2.bundle"}}},
		keys.priv)
	if err != nil {
		t.Fatal(err)
	}
	srv.put("/stable.index", idx)

	l, err := lab.NewFor(t, lab.Options{Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	httpsPort := freeTCPPort(t)
	vm := useLabTaps(t, l).boot(qemu.Options{Image: img, WorkDir: filepath.Join(work, "vm"),
		Forwards: []qemu.Forward{{Host: httpsPort, Guest: 443}}, Output: &tLog{t: t, prefix: "vm: "}})
	ui := newUIClient(t, fmt.Sprintf("https://127.0.0.1:%d", httpsPort), nil)
	ui.firstBoot(vm, "channel-test-password")
	ui.waitStatus(3*time.Minute, "v1 blessed", func(s updateStatus) bool { return s.RunningVersion == 1 && s.Blessed }, serialTail(vm, 40))

	ui.changeSettings(func(s map[string]any) {
		s["update_channel"] = base + "/stable.index"
		s["update_mode"] = "install"
	})

	ui.hc.Timeout = 10 * time.Minute // the box downloads and writes the slot before it answers
	var chk struct{ Outcome, Reason string }
	if err := json.Unmarshal(ui.mustDo("POST", "/api/update/channel/check", "", http.StatusOK), &chk); err != nil {
		t.Fatal(err)
	}
	ui.hc.Timeout = 20 * time.Second
	if chk.Outcome != "installed" {
		t.Fatalf("channel check: %+v\n%s", chk, serialTail(vm, 60)())
	}
	// The event is in memory: read it in the seconds before the reboot.
	if ev := ui.eventMessages(); !strings.Contains(ev, "update channel: installed") {
		t.Errorf("no event for the channel's install in:\n%s", ev)
	}
	st := ui.waitStatus(8*time.Minute, "v2 from the channel blessed", func(s updateStatus) bool {
		return s.RunningVersion == 2 && s.Blessed && s.Last != nil && s.Last.Result == "success"
	}, serialTail(vm, 60))
	if st.Running != "b" || st.Trial {
		t.Fatalf("after the channel's update: %+v", st)
	}
	if n := srv.count("/qemu-amd64-2.bundle"); n != 1 {
		t.Fatalf("bundle downloaded %d times", n)
	}
	t.Logf("channel check to blessed v2: %.1fs", st.Last.DurationS)
}
