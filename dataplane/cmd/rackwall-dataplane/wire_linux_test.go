package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/control"
)

// syncBuffer collects a child's stderr while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func sh(t *testing.T, line string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", line).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", line, err, out)
	}
}

// wire builds host A — [box: up0 | rk0] — host B in three throwaway
// namespaces, offloads off, and returns the namespace names.
func wire(t *testing.T) (a, box, b string) {
	t.Helper()
	p := fmt.Sprintf("rwdp%d", os.Getpid())
	a, box, b = p+"a", p+"box", p+"b"
	for _, ns := range []string{a, box, b} {
		sh(t, "ip netns add "+ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh(t, fmt.Sprintf("ip link add eth0 netns %s type veth peer name up0 netns %s", a, box))
	sh(t, fmt.Sprintf("ip link add eth0 netns %s type veth peer name rk0 netns %s", b, box))
	for _, d := range [][2]string{{a, "eth0"}, {box, "up0"}, {box, "rk0"}, {b, "eth0"}} {
		sh(t, fmt.Sprintf("ip netns exec %s ethtool -K %s tx off tso off gso off gro off rx off >/dev/null 2>&1; ip netns exec %s ip link set %s up", d[0], d[1], d[0], d[1]))
	}
	sh(t, fmt.Sprintf("ip netns exec %s ip addr add 10.98.0.1/24 dev eth0", a))
	sh(t, fmt.Sprintf("ip netns exec %s ip addr add 10.98.0.2/24 dev eth0", b))
	return a, box, b
}

func ping(ns string) bool {
	return exec.Command("ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", "10.98.0.2").Run() == nil
}

// TestForwardsReloadsAndStops runs the real command on a veth wire: frames
// cross it, SIGHUP with a broken rules file keeps the running rules, with a
// good one applies them, and SIGTERM ends it with status 0.
func TestForwardsReloadsAndStops(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: builds network namespaces and veth pairs")
	}
	for _, tool := range []string{"ip", "ping"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s (iproute2, iputils-ping)", tool)
		}
	}
	a, box, _ := wire(t)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules")
	if err := os.WriteFile(rulesPath, []byte("pass all\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "control.sock")
	cmd := exec.Command("ip", "netns", "exec", box, os.Args[0],
		"--uplink", "up0", "--rack", "rk0", "--rules", rulesPath, "--control", sock, "--metrics", "127.0.0.1:9464")
	cmd.Env = append(os.Environ(), "RACKWALL_DATAPLANE_MAIN=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		t.Logf("dataplane log:\n%s", stderr.String())
	}()
	signal := func(s syscall.Signal) {
		// ip netns exec replaces itself with the command, so the pid is the dataplane's.
		if err := cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
	}

	if !ping(a) {
		t.Fatal("no ping through the dataplane")
	}
	c := control.Dial(sock)
	var st *control.Status
	var err error
	// Link state is polled about once a second; a veth's operational state
	// itself settles asynchronously after it is set up.
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if st, err = c.Status(context.Background()); err == nil && st.Health.Ports[0].LinkUp && st.Health.Ports[1].LinkUp {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if up := st.Counters.Ports[0]; up.Forwarded < 3 || !st.Health.Ports[0].LinkUp || !st.Health.Ports[1].LinkUp {
		t.Fatalf("status after ping: %+v %+v", up, st.Health)
	}

	os.WriteFile(rulesPath, []byte("pass all\nblock in frobnicate\n"), 0o644)
	signal(syscall.SIGHUP)
	waitLog(t, &stderr, "rules reload refused")
	if !strings.Contains(stderr.String(), "line 2, column") {
		t.Fatal("refusal does not name line and column")
	}
	if !ping(a) {
		t.Fatal("a refused reload broke forwarding")
	}

	os.WriteFile(rulesPath, []byte("block in proto icmp\npass all\n"), 0o644)
	signal(syscall.SIGHUP)
	waitLog(t, &stderr, "rules reloaded")
	if ping(a) {
		t.Fatal("ping passes a rule that blocks ICMP")
	}
	st, _ = c.Status(context.Background())
	if st.Counters.Ports[0].Drops["filter_blocked"] == 0 {
		t.Fatalf("no filter_blocked drops counted: %v", st.Counters.Ports[0].Drops)
	}

	signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5s after SIGTERM")
	}
}

func waitLog(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Contains(b.String(), want) {
			return
		}
	}
	t.Fatalf("log never said %q", want)
}
