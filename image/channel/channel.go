// Package channel is the signed index of an update channel: the newest
// bundle per board, with its version, size, SHA-256 and URL, and how much
// of the fleet should take it yet (rollout percent). A box following the
// channel fetches the index, verifies its signature with the same ed25519
// keys it trusts for bundles, and decides from it whether to install.
//
// The file is text, so an operator can read what a channel offers:
//
//	RWINDEX 1\n
//	<base64 ed25519 signature over the body>\n
//	<body: one JSON object>
//
// The signature covers the body bytes exactly as they follow the second
// newline. The body names a sequence number that rises with every index the
// channel publishes; a box remembers the highest it has accepted and
// refuses an older one, so a replayed index cannot hold a box back on a
// release the channel has moved past.
//
// The package is a leaf (standard library only): the update agent on the
// box and the signing command share it without either carrying the other.
package channel

import (
	"time"
)

// FormatVersion is the only body format this package reads and writes.
const FormatVersion = 1

// MaxIndexBytes bounds an index file: a few hundred bytes per board.
const MaxIndexBytes = 256 << 10

// maxEntries bounds the boards one index lists.
const maxEntries = 64

// Index is a channel's offer: per board, the bundle to run.
type Index struct {
	Format   int    `json:"format"`
	Channel  string `json:"channel"`
	Sequence int64  `json:"sequence"` // rises with every index of the channel
	// Issued is when the index was signed; informational (a box's clock
	// may be wrong, the sequence is what orders indexes).
	Issued  time.Time `json:"issued"`
	Entries []Entry   `json:"entries"`
}

// Entry is the bundle one board should run.
type Entry struct {
	Board   string `json:"board"`
	Version int64  `json:"version"`
	Size    int64  `json:"size"`   // bytes of the whole bundle file
	SHA256  string `json:"sha256"` // of the whole bundle file, lowercase hex
	URL     string `json:"url"`    // https
	// RolloutPercent is the share of boxes (0 to 100) that install this
	// version; each box's share is fixed by its device id, so a box in
	// the first 10 % stays in every larger share. Absent means 100.
	RolloutPercent *int `json:"rollout_percent,omitempty"`
}

// Rollout is the entry's rollout percent, 100 when the index leaves it out.
func (e Entry) Rollout() int {
	if e.RolloutPercent == nil {
		return 100
	}
	return *e.RolloutPercent
}

// Entry returns the entry for board.
func (ix *Index) Entry(board string) (Entry, bool) {
	for _, e := range ix.Entries {
		if e.Board == board {
			return e, true
		}
	}
	return Entry{}, false
}

// Error is an index refused: Reason says why in words an operator can act
// on.
type Error struct{ Reason string }

func (e *Error) Error() string { return "channel index refused: " + e.Reason }
