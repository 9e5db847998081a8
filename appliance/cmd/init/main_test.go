package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rackwall/rackwall/appliance/store"
)

func TestParseServices(t *testing.T) {
	got, err := parseServices([]byte(`[{"path":"/gokrazy/dhcp","args":["-interface","eth0"]},{"path":"/user/rackwall","args":[],"wait_for_clock":true}]`))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Args[1] != "eth0" || !got[1].WaitForClock || got[1].Path != "/user/rackwall" {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{`{}`, `[{"path":"user/x"}]`, `[{"path":""}]`, `[`, `[{"path":"/x","cmd":"y"}]`} {
		if _, err := parseServices([]byte(bad)); err == nil {
			t.Errorf("parseServices(%s) succeeded", bad)
		}
	}
}

// The management port's DHCP client is started unless the appliance's
// settings address the port statically; a corrupt current file falls back
// to the revision the appliance will use, without init repairing anything.
func TestDHCPSkippedForStaticManagement(t *testing.T) {
	state := t.TempDir()
	services := filepath.Join(t.TempDir(), "services.json")
	os.WriteFile(services, []byte(`[{"path":"/gokrazy/dhcp","args":["-interface","eth0"],"unless_static_management":"`+state+`"},{"path":"/user/rackwall","args":[]}]`), 0o644)
	started := func() []string {
		_, paths, err := loadServices(services)
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	if got := started(); len(got) != 2 {
		t.Fatalf("fresh box starts %v, want DHCP and the appliance", got)
	}
	st, _, err := store.Open(state, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit("admin", "static", func(c *store.Config) error {
		c.Settings.MgmtMode, c.Settings.MgmtAddress, c.Settings.MgmtGateway = "static", "192.0.2.10/24", "192.0.2.1"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := started(); len(got) != 1 || got[0] != "/user/rackwall" {
		t.Fatalf("static box starts %v, want the appliance alone", got)
	}
	current := filepath.Join(state, "rackwall.json")
	os.WriteFile(current, []byte("{not json"), 0o600)
	if got := started(); len(got) != 1 {
		t.Fatalf("with a corrupt current file (last good revision static) init starts %v", got)
	}
	if b, _ := os.ReadFile(current); string(b) != "{not json" {
		t.Fatal("init repaired the config store; the appliance must find and report that itself")
	}
}
