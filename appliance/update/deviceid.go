package update

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The device id places a box in a channel's rollout. Nothing else on the
// box identifies one unit (the disk GUIDs are the same on every box of a
// board), so the first check makes a random id and keeps it on /perm: the
// box then stays on the same side of a rollout percentage for a version,
// however often it checks.

var deviceIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (a *Agent) deviceIDPath() string { return filepath.Join(a.cfg.StateDir, "device-id") }

// DeviceID returns the box's device id, making it on first use. A damaged
// file is replaced (the box may change sides of a rollout once, which is
// better than never updating).
func (a *Agent) DeviceID() (string, error) {
	a.idMu.Lock()
	defer a.idMu.Unlock()
	b, err := os.ReadFile(a.deviceIDPath())
	if err == nil {
		if id := strings.TrimSpace(string(b)); deviceIDPattern.MatchString(id) {
			return id, nil
		}
		a.cfg.Logger.Warn("update: the device id file is damaged; making a new one", "file", a.deviceIDPath())
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the device id: %w", err)
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(raw[:])
	if err := writeAtomic(a.deviceIDPath(), []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("storing the device id: %w", err)
	}
	return id, nil
}
