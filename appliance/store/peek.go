package store

import (
	"net/netip"
	"path/filepath"

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
// state folder dir, the way Open chooses them (the current file, else the
// newest valid revision, else the defaults) but without repairing or
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
