package afpacket

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// inNetns runs the calling test again in a child process inside a fresh
// network namespace, so veth pairs made by the test never touch the host.
// It returns true in the child, where the test body should run, and false
// in the parent, which only waits for the child's verdict.
func inNetns(t *testing.T) bool {
	t.Helper()
	if os.Getenv("AFPACKET_NETNS_CHILD") == t.Name() {
		return true
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates a network namespace and veth pairs")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2: ip not found")
	}
	ns := fmt.Sprintf("rwafp-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "del", ns).Run()
	cmd := exec.Command("ip", "netns", "exec", ns, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "AFPACKET_NETNS_CHILD="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in namespace %s:\n%s", ns, out)
	if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("test failed in namespace: %v", err)
	}
	return false
}

// sh runs a shell command line in the current namespace.
func sh(t *testing.T, line string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", line).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %s", line, err, out)
	}
}

// vethPair makes a veth pair with offloads off, as on the bridge's wire.
func vethPair(t *testing.T, a, b string) {
	t.Helper()
	sh(t, fmt.Sprintf("ip link add %s type veth peer name %s", a, b))
	for _, d := range []string{a, b} {
		sh(t, "ip link set "+d+" up")
		sh(t, "ethtool -K "+d+" tx off tso off gso off gro off rx off >/dev/null 2>&1 || true")
		// No IPv6 link-local chatter on the test wire.
		sh(t, "sysctl -qw net.ipv6.conf."+d+".disable_ipv6=1")
	}
}
