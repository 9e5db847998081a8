package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The error paths need no toolchain: each fails before anything is built.
func TestRejectsBadInvocations(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "pw")
	os.WriteFile(short, []byte("short\n"), 0o600)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--board", "nope", "--version", "1", "--source-date-epoch", "1"}, "unknown board"},
		{[]string{"--version", "1", "--source-date-epoch", "yesterday"}, "source date epoch"},
		{[]string{"--version", "1", "--source-date-epoch", "1", "extra"}, "unexpected arguments"},
		{[]string{"--version", "1", "--source-date-epoch", "1", "--admin-password-file", short}, "at least 8 characters"},
		{[]string{"--version", "1", "--source-date-epoch", "1", "--pubkey", filepath.Join(dir, "missing.pub")}, "missing.pub"},
	} {
		err := run(c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run(%q) = %v, want an error about %q", c.args, err, c.want)
		}
	}
}
