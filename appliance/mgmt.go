package appliance

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackwall/rackwall/appliance/links"
)

// ManagementStatic returns the static addressing of the management port
// and its name servers; ok is false when the port uses DHCP. Settings that
// passed ValidateConfig always parse.
func (s Settings) ManagementStatic() (st links.Static, dns []netip.Addr, ok bool) {
	if s.MgmtMode != "static" {
		return links.Static{}, nil, false
	}
	st.Address, _ = netip.ParsePrefix(s.MgmtAddress)
	if s.MgmtGateway != "" {
		st.Gateway, _ = netip.ParseAddr(s.MgmtGateway)
	}
	for _, d := range s.MgmtDNS {
		if a, err := netip.ParseAddr(d); err == nil {
			dns = append(dns, a)
		}
	}
	return st, dns, st.Address.IsValid()
}

// PeekSettings returns the settings the appliance will start with from the
// state folder dir, the way OpenStore chooses them (the current file, else
// the newest valid revision, else the defaults) but without repairing or
// writing anything: init reads it before the appliance runs, and the
// appliance must still find and report what needs repair.
func PeekSettings(dir string) Settings {
	s := &Store{dir: dir, validate: ValidateConfig}
	if r, _, err := s.readRevision(filepath.Join(dir, currentFile)); err == nil {
		return r.Config.Settings
	}
	if r, ok, _ := s.newestValidRevision(); ok {
		return r.Config.Settings
	}
	return DefaultConfig().Settings
}

// WriteResolvConf replaces the name server file at path (on the box
// /etc/resolv.conf) atomically. /etc is read-only on the box and gokrazy
// makes the file a link into /tmp, so a link is written through, not
// replaced.
func WriteResolvConf(path string, servers []netip.Addr) error {
	var b strings.Builder
	b.WriteString("# written by rackwall from the static management settings\n")
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if target, err := os.Readlink(path); err == nil {
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = target
	}
	return writeFileAtomic(path, []byte(b.String()))
}
