package update

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// Results of an update as recorded on /perm.
const (
	ResultInstalling = "installing" // writing the slot
	ResultTrying     = "trying"     // armed; the box reboots into the new slot
	ResultSuccess    = "success"    // the new slot passed its health check and is blessed
	ResultFailed     = "failed"     // the box runs the old slot; Reason says why
	ResultRefused    = "refused"    // the bundle was not accepted; nothing was written
)

// Attempt is one update as remembered across reboots.
type Attempt struct {
	Result    string     `json:"result"`
	Reason    string     `json:"reason,omitempty"`
	Slot      string     `json:"slot,omitempty"`    // the slot written
	Version   int64      `json:"version,omitempty"` // the bundle's version
	From      int64      `json:"from,omitempty"`    // the version running when it started
	Started   time.Time  `json:"started"`
	Finished  *time.Time `json:"finished,omitempty"`
	DurationS float64    `json:"duration_seconds,omitempty"` // upload start to blessed (or to failure)
	// ArmedBoot is the boot ID of the boot that armed the slot: a later
	// boot on the old slot means the try happened and failed.
	ArmedBoot string `json:"armed_boot,omitempty"`
	// MinVersion is the bundle's version floor; it becomes the box's
	// floor once the slot is blessed.
	MinVersion int64 `json:"min_version,omitempty"`
}

// record is the state file: the last attempt. It is written atomically
// (temp + fsync + rename) so a power cut leaves the old or the new record.
type record struct {
	Last *Attempt `json:"last,omitempty"`
}

func loadRecord(path string) (record, error) {
	// A damaged record must not stop the box from updating again; the
	// caller logs the error and starts fresh.
	return readState[record](path)
}

func saveRecord(path string, r record) error { return writeState(path, r) }

// readState decodes the agent's JSON state file at path. A missing file
// is the zero value (nothing recorded yet); an unreadable or damaged one
// is the zero value with the error, for the caller to log and start over.
func readState[T any](path string) (T, error) {
	var v T
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return v, nil
	}
	if err != nil {
		return v, err
	}
	if err := json.Unmarshal(b, &v); err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}

// writeState replaces the JSON state file at path with v, atomically.
func writeState(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(path, append(b, '\n'))
}

// writeAtomic replaces path with data so that a power cut leaves the old
// content or the new: temp file, fsync, rename, directory fsync.
func writeAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}
