package bundle

import (
	"encoding/binary"
	"encoding/json"
	"io"
)

// PeekManifest reads a bundle's manifest WITHOUT checking its signature,
// for tools that only display or wait for what a bundle claims (the box
// verifies with Open).
func PeekManifest(r io.Reader) (Manifest, error) {
	var m Manifest
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil || string(hdr[:8]) != magic {
		return m, refuse("not a rackwall bundle")
	}
	n := binary.BigEndian.Uint32(hdr[12:])
	if n == 0 || n > maxManifest {
		return m, refuse("bundle manifest length %d out of range", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return m, refuse("bundle truncated in its manifest")
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return m, refuse("bundle manifest is not valid: %v", err)
	}
	return m, m.Validate()
}
