package store

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// AuditEntry is one line of the audit log: who did what, when.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

const (
	auditFile = "audit.log"
	// auditMaxBytes is where the log rotates to audit.log.1; two files bound
	// what the log takes on /perm.
	auditMaxBytes = 1 << 20
)

// AuditLog appends JSON lines to audit.log in the state directory.
type AuditLog struct {
	path string
	now  func() time.Time
	mu   sync.Mutex
}

// NewAuditLog returns the audit log kept in dir.
func NewAuditLog(dir string, now func() time.Time) *AuditLog {
	if now == nil {
		now = time.Now
	}
	return &AuditLog{path: filepath.Join(dir, auditFile), now: now}
}

// Append records one entry and syncs it to disk.
func (a *AuditLog) Append(actor, action, detail string) (AuditEntry, error) {
	e := AuditEntry{Time: a.now().UTC(), Actor: oneLine(actor), Action: oneLine(action), Detail: strings.TrimSpace(detail)}
	if len(e.Detail) > 1000 {
		e.Detail = e.Detail[:1000]
	}
	line, err := json.Marshal(e)
	if err != nil {
		return e, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if st, err := os.Stat(a.path); err == nil && st.Size()+int64(len(line)) > auditMaxBytes {
		if err := os.Rename(a.path, a.path+".1"); err != nil {
			return e, fmt.Errorf("audit log: %w", err)
		}
	}
	f, err := os.OpenFile(a.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return e, fmt.Errorf("audit log: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(append(line, '\n')); err != nil {
		return e, fmt.Errorf("audit log: %w", err)
	}
	if err := f.Sync(); err != nil {
		return e, fmt.Errorf("audit log: %w", err)
	}
	return e, nil
}

// Recent returns up to limit entries, newest first. Lines that do not
// decode (a torn write after a power cut) are skipped.
func (a *AuditLog) Recent(limit int) ([]AuditEntry, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var all []AuditEntry
	for _, p := range []string{a.path + ".1", a.path} {
		f, err := os.Open(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			var e AuditEntry
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				all = append(all, e)
			}
		}
		f.Close()
	}
	out := make([]AuditEntry, 0, min(limit, len(all)))
	for i := len(all) - 1; i >= 0 && len(out) < limit; i-- {
		out = append(out, all[i])
	}
	return out, nil
}
