package tests

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/qemu"
	"github.com/rackwall/rackwall/tests/lab"
)

// TestQemuBoot boots the qemu-amd64 image under OVMF (KVM where usable),
// with the bridge ports on the rack lab's taps, and measures the time from
// qemu's start to init running and to the appliance answering /healthz on
// the forwarded management port.
func TestQemuBoot(t *testing.T) {
	skipUnlessQemu(t, "boots the image under qemu")
	skipWithoutSystemdBoot(t)
	b, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	img := qemuDisk(t) // every program in it built (imagePrograms)
	progs := image.DefaultPrograms(b)

	l, err := lab.New(t)
	if err != nil {
		t.Fatal(err)
	}
	httpPort, httpsPort := freeTCPPort(t), freeTCPPort(t)
	vm := useLabTaps(t, l).boot(qemu.Options{
		Image:    img,
		WorkDir:  t.TempDir(),
		Forwards: []qemu.Forward{{Host: httpPort, Guest: 80}, {Host: httpsPort, Guest: 443}},
		Output:   os.Stderr,
	})
	t.Logf("BOOT: qemu with -accel %v", vm.Accel)
	logSerialOnFailure(t, vm)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	initAt, err := vm.WaitSerial(ctx, "gokrazy build timestamp 2023-11-14T22:13:20Z")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BOOT: init running %.1f s after qemu start", initAt.Seconds())

	// Every supervised program in the image is seen running by init.
	for _, p := range progs {
		if !p.Supervised {
			continue
		}
		at, err := vm.WaitSerial(ctx, "rackwall init: service "+p.Path()+" running")
		if err != nil {
			t.Error(err)
			continue
		}
		t.Logf("BOOT: %s running %.1f s after qemu start", p.Path(), at.Seconds())
	}

	// gokrazy's web interface (with its update endpoints) listens on the
	// Unix socket only.
	log, _ := os.ReadFile(vm.SerialLog)
	for _, m := range regexp.MustCompile(`now listening on (\S+)`).FindAllStringSubmatch(string(log), -1) {
		if m[1] != "/run/gokrazy-http.sock" {
			t.Errorf("gokrazy listens on %s; its update endpoints must not be reachable from the network", m[1])
		}
	}

	appliance := false
	for _, p := range progs {
		appliance = appliance || p.Name == "rackwall"
	}
	if !appliance {
		t.Fatal("the board's programs have no appliance (/user/rackwall): /healthz cannot answer")
	}
	urls := []string{
		fmt.Sprintf("https://127.0.0.1:%d/healthz", httpsPort),
		fmt.Sprintf("http://127.0.0.1:%d/healthz", httpPort),
	}
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // the box's certificate is self-signed
	}
	for {
		for _, u := range urls {
			resp, err := client.Get(u)
			if err != nil {
				continue
			}
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Logf("BOOT: %s answered 200 %.1f s after qemu start", u, time.Since(vm.Started).Seconds())
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no 200 from %v within the boot deadline", urls)
		case <-vm.Done():
			t.Fatal("qemu exited while waiting for /healthz")
		case <-time.After(time.Second):
		}
	}
}
