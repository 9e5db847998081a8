package tests

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rackwall/rackwall/appliance"
	"github.com/rackwall/rackwall/appliance/links"
)

// The static management addressing: the port gets exactly the configured
// address and a default route through the gateway, a second apply changes
// nothing, a new address replaces the old one, and the host is reachable
// at it from its subnet.
func TestStaticManagementAddress(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip (iproute2)")
	}
	id := fmt.Sprintf("%05d", os.Getpid()%100000)
	box, peer := "rwmbox"+id, "rwmnet"+id
	for _, ns := range []string{box, peer} {
		sh(t, "ip", "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	sh(t, "ip", "-n", box, "link", "add", "mgmt0", "type", "veth", "peer", "name", "e0", "netns", peer)
	sh(t, "ip", "-n", peer, "addr", "add", "192.0.2.1/24", "dev", "e0")
	sh(t, "ip", "-n", peer, "link", "set", "e0", "up")
	// A leftover address (say, from DHCP before the admin switched to static).
	sh(t, "ip", "-n", box, "addr", "add", "198.51.100.7/24", "dev", "mgmt0")

	apply := func(s links.Static) error {
		return inNetns(t, box, func() error {
			c, err := links.Dial()
			if err != nil {
				return err
			}
			defer c.Close()
			return c.SetStatic("mgmt0", s)
		})
	}
	first := links.Static{Address: netip.MustParsePrefix("192.0.2.10/24"), Gateway: netip.MustParseAddr("192.0.2.1")}
	for i := 0; i < 2; i++ {
		if err := apply(first); err != nil {
			t.Fatalf("apply %d: %v", i+1, err)
		}
	}
	addrs := sh(t, "ip", "-n", box, "-4", "addr", "show", "dev", "mgmt0")
	if !strings.Contains(addrs, "inet 192.0.2.10/24 brd 192.0.2.255") || strings.Contains(addrs, "198.51.100.7") || strings.Count(addrs, "inet ") != 1 {
		t.Fatalf("addresses after two applies:\n%s", addrs)
	}
	if routes := sh(t, "ip", "-n", box, "route", "show", "default"); !strings.Contains(routes, "default via 192.0.2.1 dev mgmt0") {
		t.Fatalf("default route: %q", routes)
	}
	if out, err := exec.Command("ip", "netns", "exec", peer, "ping", "-c", "1", "-W", "2", "192.0.2.10").CombinedOutput(); err != nil {
		t.Fatalf("static address not reachable: %v\n%s", err, out)
	}

	second := links.Static{Address: netip.MustParsePrefix("192.0.2.20/24")}
	if err := apply(second); err != nil {
		t.Fatal(err)
	}
	addrs = sh(t, "ip", "-n", box, "-4", "addr", "show", "dev", "mgmt0")
	if !strings.Contains(addrs, "192.0.2.20/24") || strings.Contains(addrs, "192.0.2.10/") {
		t.Fatalf("addresses after changing the address:\n%s", addrs)
	}
	if err := apply(links.Static{Address: netip.MustParsePrefix("192.0.2.20/24"), Gateway: netip.MustParseAddr("2001:db8::1")}); err == nil {
		t.Fatal("an IPv6 gateway for an IPv4 address was accepted")
	}

	// resolv.conf is written through gokrazy's link into /tmp.
	dir := t.TempDir()
	os.Symlink(filepath.Join(dir, "resolv.conf"), filepath.Join(dir, "etc-resolv.conf"))
	if err := appliance.WriteResolvConf(filepath.Join(dir, "etc-resolv.conf"), []netip.Addr{netip.MustParseAddr("192.0.2.53"), netip.MustParseAddr("2001:db8::53")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "resolv.conf"))
	if err != nil || !strings.Contains(string(b), "nameserver 192.0.2.53\nnameserver 2001:db8::53\n") {
		t.Fatalf("resolv.conf: %q, %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "etc-resolv.conf")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatal("the link was replaced instead of written through")
	}
}
