package channel

import (
	"crypto/sha256"
	"encoding/binary"
	"strconv"
)

// Bucket places a box in 0..99 for one version: the first 8 bytes of
// sha256(device id, ":", version) modulo 100. The same box lands in the
// same bucket every time it checks, so raising a rollout only ever adds
// boxes; the version is mixed in so that the same boxes are not the first
// to get every release.
func Bucket(deviceID string, version int64) int {
	h := sha256.Sum256([]byte(deviceID + ":" + strconv.FormatInt(version, 10)))
	return int(binary.BigEndian.Uint64(h[:8]) % 100)
}

// InRollout says whether a box takes version at percent (0 to 100).
func InRollout(deviceID string, version int64, percent int) bool {
	return Bucket(deviceID, version) < percent
}
