package channel

import (
	"fmt"
	"net/url"
	"regexp"
)

var (
	channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)
	boardName   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)
	hexHash     = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// maxBundleBytes bounds an entry's size: a slot's root plus kernel and
// boot entry, with room to spare.
const maxBundleBytes = 8 << 30

// Validate checks the index's own consistency and names the first bad
// field.
func (ix *Index) Validate() error {
	if ix.Format != FormatVersion {
		return fmt.Errorf("format %d is not supported (want %d)", ix.Format, FormatVersion)
	}
	if !channelName.MatchString(ix.Channel) {
		return fmt.Errorf("channel name %q: want 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", ix.Channel)
	}
	if ix.Sequence <= 0 {
		return fmt.Errorf("sequence %d: want a positive number", ix.Sequence)
	}
	if ix.Issued.IsZero() {
		return fmt.Errorf("issued: missing")
	}
	if len(ix.Entries) == 0 || len(ix.Entries) > maxEntries {
		return fmt.Errorf("%d entries: want 1 to %d", len(ix.Entries), maxEntries)
	}
	seen := map[string]bool{}
	for i, e := range ix.Entries {
		if err := e.validate(); err != nil {
			return fmt.Errorf("entry %d: %v", i+1, err)
		}
		if seen[e.Board] {
			return fmt.Errorf("entry %d: board %q is listed twice", i+1, e.Board)
		}
		seen[e.Board] = true
	}
	return nil
}

func (e Entry) validate() error {
	if !boardName.MatchString(e.Board) {
		return fmt.Errorf("board %q is not a board name", e.Board)
	}
	if e.Version <= 0 {
		return fmt.Errorf("board %s: version %d: want a positive number", e.Board, e.Version)
	}
	if e.Size <= 0 || e.Size > maxBundleBytes {
		return fmt.Errorf("board %s: size %d: want 1 to %d bytes", e.Board, e.Size, int64(maxBundleBytes))
	}
	if !hexHash.MatchString(e.SHA256) {
		return fmt.Errorf("board %s: sha256 %q is not 64 lowercase hex digits", e.Board, e.SHA256)
	}
	if err := checkURL(e.URL); err != nil {
		return fmt.Errorf("board %s: url: %v", e.Board, err)
	}
	if p := e.Rollout(); p < 0 || p > 100 {
		return fmt.Errorf("board %s: rollout_percent %d: want 0 to 100", e.Board, p)
	}
	return nil
}

// checkURL accepts an absolute https URL with a host and nothing a box
// would have to guess about (no user info, no fragment).
func checkURL(raw string) error {
	if len(raw) > 2048 {
		return fmt.Errorf("longer than 2048 characters")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q cannot be parsed", raw)
	}
	if u.Scheme != "https" || u.Host == "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not an https:// URL with a host", raw)
	}
	if u.User != nil || u.Fragment != "" {
		return fmt.Errorf("%q carries user info or a fragment", raw)
	}
	return nil
}
