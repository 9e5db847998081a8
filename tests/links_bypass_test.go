package tests

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/rackwall/rackwall/appliance/links"
)

// inNetns runs fn on a thread switched into the named network namespace.
func inNetns(t *testing.T, ns string, fn func() error) error {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// The thread is left locked and so dies with the goroutine: it never
		// returns to the pool while still inside the test namespace.
		runtime.LockOSThread()
		fd, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func sh(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestBridgePortsAndBypass checks the appliance's link setup on real
// interfaces: bridge ports lose their addresses and IPv6, and the bypass
// bridge carries traffic between two hosts until it is removed again.
func TestBridgePortsAndBypass(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	id := fmt.Sprintf("%05d", os.Getpid()%100000)
	box, h1, h2 := "rwlbox"+id, "rwlh1"+id, "rwlh2"+id
	for _, ns := range []string{box, h1, h2} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh(t, "ip", "-n", box, "link", "add", "up0", "type", "veth", "peer", "name", "e0", "netns", h1)
	sh(t, "ip", "-n", box, "link", "add", "rk0", "type", "veth", "peer", "name", "e0", "netns", h2)
	sh(t, "ip", "-n", box, "addr", "add", "192.0.2.99/24", "dev", "up0")
	for i, ns := range []string{h1, h2} {
		sh(t, "ip", "-n", ns, "addr", "add", fmt.Sprintf("10.99.0.%d/24", i+1), "dev", "e0")
		sh(t, "ip", "-n", ns, "link", "set", "e0", "up")
	}

	err := inNetns(t, box, func() error {
		c, err := links.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		for _, p := range []string{"up0", "rk0"} {
			if err := c.PrepareBridgePort(p, 1500); err != nil {
				return err
			}
		}
		return c.EnableBypass("up0", "rk0")
	})
	if err != nil {
		t.Fatal(err)
	}
	addrs := sh(t, "ip", "-n", box, "addr", "show", "dev", "up0")
	if strings.Contains(addrs, "inet ") || strings.Contains(addrs, "inet6") {
		t.Errorf("bridge port still has addresses:\n%s", addrs)
	}
	if !strings.Contains(addrs, "PROMISC") {
		t.Errorf("bridge port not promiscuous:\n%s", addrs)
	}
	if out, err := exec.Command("ip", "netns", "exec", h1, "ping", "-c", "2", "-W", "2", "10.99.0.2").CombinedOutput(); err != nil {
		t.Fatalf("no traffic through the bypass bridge: %v\n%s", err, out)
	}

	err = inNetns(t, box, func() error {
		c, err := links.Dial()
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.DisableBypass("up0", "rk0"); err != nil {
			return err
		}
		if c.BypassActive() {
			return fmt.Errorf("bypass bridge still present")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("ip", "netns", "exec", h1, "ping", "-c", "1", "-W", "1", "10.99.0.2").Run(); err == nil {
		t.Fatal("traffic still crosses after the bypass was removed")
	}
}
