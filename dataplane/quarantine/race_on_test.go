//go:build race

package quarantine

// The race detector slows the flood test tenfold; it then floods less.
const raceEnabled = true
