package main

import (
	"strings"
	"testing"
)

// A floor above the bundle's own version is refused before anything is
// built or signed.
func TestMinVersionAboveVersionRefused(t *testing.T) {
	for _, args := range [][]string{
		{"--version", "3", "--min-version", "4", "--key", "/nonexistent"},
		{"--version", "3", "--min-version", "-1", "--key", "/nonexistent"},
	} {
		err := build(args)
		if err == nil || !strings.Contains(err.Error(), "--min-version") {
			t.Errorf("%v: %v", args, err)
		}
	}
	// A floor at the version passes that check and stops at the missing key.
	if err := build([]string{"--version", "3", "--min-version", "3", "--key", "/nonexistent"}); err == nil || !strings.Contains(err.Error(), "signing key") {
		t.Errorf("floor at the version: %v", err)
	}
}
