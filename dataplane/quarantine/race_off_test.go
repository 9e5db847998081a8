//go:build !race

package quarantine

const raceEnabled = false
