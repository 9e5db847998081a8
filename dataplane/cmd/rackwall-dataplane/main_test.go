package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the tests run this command as a child process: the test
// binary becomes rackwall-dataplane when RACKWALL_DATAPLANE_MAIN is set.
func TestMain(m *testing.M) {
	if os.Getenv("RACKWALL_DATAPLANE_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// command returns the dataplane command with args.
func command(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "RACKWALL_DATAPLANE_MAIN=1")
	return cmd
}

func runCommand(t *testing.T, args ...string) (code int, stderr string) {
	t.Helper()
	cmd := command(args...)
	var errBuf bytes.Buffer
	cmd.Stderr = &errBuf
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), errBuf.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, errBuf.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBadConfigExitsWithPosition(t *testing.T) {
	cfg := writeFile(t, "policy.conf", "min_ttl: 5\nfragment_timeout: forever\n")
	code, stderr := runCommand(t, "--uplink", "nope0", "--rack", "nope1", "--config", cfg)
	if code == 0 {
		t.Fatal("bad config: exit 0")
	}
	if !strings.Contains(stderr, "line 2, column") || !strings.Contains(stderr, "config refused") {
		t.Fatalf("stderr does not name the position:\n%s", stderr)
	}
}

func TestBadRulesExitWithPosition(t *testing.T) {
	rules := writeFile(t, "rules", "pass in proto tcp\npass in frobnicate\n")
	code, stderr := runCommand(t, "--uplink", "nope0", "--rack", "nope1", "--rules", rules)
	if code == 0 || !strings.Contains(stderr, "line 2, column") {
		t.Fatalf("bad rules: exit %d, stderr:\n%s", code, stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"--rack", "a"},
		{"--uplink", "a"},
		{"--uplink", "a", "--rack", "b", "extra"},
		{"--uplink", "a", "--rack", "b", "--tx-mode", "carrier-pigeon"},
		{"--uplink", "a", "--rack", "b", "--workers", "0"},
		{"--uplink", "a", "--rack", "b", "--offloads", "--tx-mode", "sendmmsg"},
		{"--uplink", "a", "--rack", "b", "--offloads=sometimes"},
	} {
		if code, _ := runCommand(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestMissingInterfaceFailsCleanly(t *testing.T) {
	code, stderr := runCommand(t, "--uplink", "rw-no-such-if0", "--rack", "rw-no-such-if1")
	if code != 1 || !strings.Contains(stderr, "rw-no-such-if0") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
}

func TestOffloadsFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want offloadMode
	}{
		{nil, offloadsAuto},
		{[]string{"--offloads"}, offloadsOn},
		{[]string{"--offloads=on"}, offloadsOn},
		{[]string{"--offloads=off"}, offloadsOff},
		{[]string{"--offloads=false"}, offloadsOff},
		{[]string{"--offloads=auto"}, offloadsAuto},
	} {
		f, err := parseFlags(append([]string{"--uplink", "a", "--rack", "b"}, c.args...))
		if err != nil || f.offloads != c.want {
			t.Errorf("%v: %v, %v; want %v", c.args, f.offloads.String(), err, c.want.String())
		}
	}
}
