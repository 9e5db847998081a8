package appliance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/webui"
)

func bcryptHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), store.MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// A credentials file the store cannot read locks the box; through the
// backend the UI sees the lock, not "no password" (which would reopen the
// first run to whoever comes along).
func TestBackendReportsLockedCredentials(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "credentials.json"), []byte(`{"format":"rackwall-credentials/1","admin_hash":"$2a$1`), 0o600); err != nil {
		t.Fatal(err)
	}
	s, _, err := store.Open(dir, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{store: s}
	if h, err := b.AdminHash(context.Background()); h != "" || !errors.Is(err, webui.ErrCredentialsUnreadable) {
		t.Fatalf("backend AdminHash = %q, %v", h, err)
	}
}

// A new password that cannot be written is reported and the old one stays.
func TestBackendPasswordChangeThatCannotBeSaved(t *testing.T) {
	dir := t.TempDir()
	var writeErr error
	s, _, err := store.Open(dir, store.Options{WriteFile: func(path string, data []byte) error {
		if writeErr != nil {
			return writeErr
		}
		return store.WriteFileAtomic(path, data)
	}})
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{store: s, audit: store.NewAuditLog(dir, nil)}
	old := bcryptHash(t, "old password")
	if _, err := b.SetAdminHash(context.Background(), "admin", old, false); err != nil {
		t.Fatal(err)
	}
	writeErr = errors.New("disk full")
	if _, err := b.SetAdminHash(context.Background(), "admin", bcryptHash(t, "new password"), true); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("SetAdminHash with a failing disk = %v", err)
	}
	if h, err := b.AdminHash(context.Background()); h != old || err != nil {
		t.Fatalf("AdminHash after a failed change = %q, %v; want the old hash", h, err)
	}
}
