package store

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func openTestStore(t *testing.T, dir string, opts Options) (*Store, []string) {
	t.Helper()
	s, warnings, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s, warnings
}

func TestFreshStoreHasValidDefault(t *testing.T) {
	dir := t.TempDir()
	s, warnings := openTestStore(t, dir, Options{})
	if len(warnings) != 0 {
		t.Fatalf("warnings on a fresh store: %v", warnings)
	}
	cur := s.Current()
	if cur.N != 1 || cur.Summary != "initial configuration" {
		t.Fatalf("fresh revision = %d %q", cur.N, cur.Summary)
	}
	if err := ValidateConfig(cur.Config); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, currentFile)); err != nil {
		t.Fatalf("current file not written: %v", err)
	}
	// Reopening loads the same revision without warnings.
	s2, warnings := openTestStore(t, dir, Options{})
	if len(warnings) != 0 || s2.Current().N != 1 {
		t.Fatalf("reopen: rev %d warnings %v", s2.Current().N, warnings)
	}
}

func TestCommitNumbersRevisionsAndKeepsTwenty(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	for i := 0; i < 30; i++ {
		r, err := s.Commit("admin", "change\nwith newline", func(c *Config) error {
			c.Rules = "pass in proto tcp to any port " + fmtInt(1000+i) + "\n"
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if r.N != i+2 {
			t.Fatalf("revision %d, want %d", r.N, i+2)
		}
		if r.Summary != "change with newline" || r.Author != "admin" {
			t.Fatalf("meta %q %q", r.Author, r.Summary)
		}
	}
	revs := s.Revisions()
	if len(revs) != KeepRevisions {
		t.Fatalf("%d revisions kept, want %d", len(revs), KeepRevisions)
	}
	if revs[0].N != 31 || revs[len(revs)-1].N != 12 {
		t.Fatalf("kept %d..%d, want 31..12", revs[0].N, revs[len(revs)-1].N)
	}
	if _, err := s.Revision(5); !errors.Is(err, ErrNoRevision) {
		t.Fatalf("pruned revision: %v", err)
	}
	s2, _ := openTestStore(t, dir, Options{})
	if s2.Current().N != 31 || !strings.Contains(s2.Current().Config.Rules, "1029") {
		t.Fatalf("reloaded %d %q", s2.Current().N, s2.Current().Config.Rules)
	}
	if r, _ := s2.Commit("a", "x", func(c *Config) error { return nil }); r.N != 32 {
		t.Fatalf("next after reload = %d", r.N)
	}
}

func fmtInt(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for i > 0 {
		b = append([]byte{byte('0' + i%10)}, b...)
		i /= 10
	}
	return string(b)
}

func TestCommitRejectsInvalidAndChangesNothing(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	before, _ := os.ReadFile(filepath.Join(dir, currentFile))
	_, err := s.Commit("admin", "bad rules", func(c *Config) error {
		c.Rules = "pass in proto tcp\nfrobnicate everything\n"
		return nil
	})
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Part != "rules" || ce.Line != 2 || ce.Column != 1 {
		t.Fatalf("err = %#v", err)
	}
	_, err = s.Commit("admin", "bad policy", func(c *Config) error {
		c.Policy = "max_fragments: 128\nfragment_timeout: banana\n"
		return nil
	})
	if !errors.As(err, &ce) || ce.Part != "policy" || ce.Line != 2 {
		t.Fatalf("policy err = %#v", err)
	}
	_, err = s.Commit("admin", "bad mtu", func(c *Config) error { c.Settings.BridgeMTU = 20; return nil })
	if err == nil || !strings.Contains(err.Error(), "bridge_mtu") {
		t.Fatalf("settings err = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, currentFile))
	if string(before) != string(after) || s.Current().N != 1 || len(s.Revisions()) != 1 {
		t.Fatal("a rejected change altered the store")
	}
}

func TestFailedWriteLeavesOldState(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	if _, err := s.Commit("admin", "one", func(c *Config) error { c.Rules = "pass all\n"; return nil }); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, currentFile))

	// Fail the second write (the current file) after the revision file went out.
	calls := 0
	s.write = func(path string, data []byte) error {
		calls++
		if calls == 2 {
			return errors.New("disk full")
		}
		return WriteFileAtomic(path, data)
	}
	_, err := s.Commit("admin", "two", func(c *Config) error { c.Rules = "block all\n"; return nil })
	if err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, currentFile))
	if string(before) != string(after) {
		t.Fatal("current file changed by a failed commit")
	}
	if s.Current().N != 2 || s.Current().Config.Rules != "pass all\n" {
		t.Fatalf("memory changed: %d %q", s.Current().N, s.Current().Config.Rules)
	}
	if len(s.Revisions()) != 2 {
		t.Fatalf("orphan revision left: %v", s.Revisions())
	}
	s2, w := openTestStore(t, dir, Options{})
	if s2.Current().Config.Rules != "pass all\n" || len(w) != 0 {
		t.Fatalf("reload after failure: %q %v", s2.Current().Config.Rules, w)
	}
}

func TestAtomicWriteFailureKeepsOldFileAndNoTemp(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "cfg")
	if err := WriteFileAtomic(target, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A rename onto a non-empty directory fails: make the target one.
	blocked := filepath.Join(dir, "blocked")
	os.MkdirAll(filepath.Join(blocked, "x"), 0o700)
	if err := WriteFileAtomic(blocked, []byte("new")); err == nil {
		t.Fatal("write over a directory succeeded")
	}
	// A missing directory fails at the temp file.
	if err := WriteFileAtomic(filepath.Join(dir, "nope", "cfg"), []byte("new")); err == nil {
		t.Fatal("write into a missing directory succeeded")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file left behind: %s", e.Name())
		}
	}
	if b, _ := os.ReadFile(target); string(b) != "old" {
		t.Fatalf("old file = %q", b)
	}
}

func TestCorruptCurrentFallsBackToLastGoodRevision(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	s, _ := openTestStore(t, dir, Options{Now: func() time.Time { return now }})
	s.Commit("admin", "good", func(c *Config) error { c.Rules = "pass all\n"; return nil })
	// A later revision that was written but is itself broken.
	os.WriteFile(s.revisionPath(3), []byte("{garbage"), 0o600)
	os.WriteFile(filepath.Join(dir, currentFile), []byte(`{"revision": 3, "config": {"rules": "frobnicate"`), 0o600)

	s2, warnings := openTestStore(t, dir, Options{Now: func() time.Time { return now }})
	if s2.Current().N != 2 || s2.Current().Config.Rules != "pass all\n" {
		t.Fatalf("fell back to %d %q", s2.Current().N, s2.Current().Config.Rules)
	}
	joined := strings.Join(warnings, "\n")
	for _, want := range []string{"moved aside", "revision 3 is unusable", "last good revision 2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("warnings %q lack %q", joined, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, currentFile+".corrupt-20261125T120000Z")); err != nil {
		t.Fatalf("corrupt file not kept aside: %v", err)
	}
	// The current file is good again, and new revisions do not reuse 3.
	if _, w := openTestStore(t, dir, Options{}); len(w) != 0 {
		t.Fatalf("second reload warns: %v", w)
	}
	if r, _ := s2.Commit("a", "next", func(c *Config) error { return nil }); r.N != 4 {
		t.Fatalf("next revision %d, want 4", r.N)
	}
}

func TestInvalidCurrentWithNoRevisionsGivesDefault(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, revisionsDir), 0o700)
	// Well-formed JSON whose policy does not parse.
	os.WriteFile(filepath.Join(dir, currentFile), []byte(`{"revision": 7, "author": "x", "time": "2026-01-01T00:00:00Z", "summary": "s", "config": {"policy": "max_fragments: 0\n", "rules": "", "settings": {}, "auth": {}}}`), 0o600)
	s, warnings := openTestStore(t, dir, Options{})
	if s.Current().N != 1 || s.Current().Config.Policy != DefaultConfig().Policy {
		t.Fatalf("got revision %d", s.Current().N)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), "starting from the default config") {
		t.Fatalf("warnings %v", warnings)
	}
}

func TestRollbackKeepsCredentials(t *testing.T) {
	s, _ := openTestStore(t, t.TempDir(), Options{})
	s.Commit("admin", "rules", func(c *Config) error { c.Rules = "block all\n"; return nil })
	hash, _ := bcrypt.GenerateFromPassword([]byte("secret-password"), MinBcryptCost)
	if err := s.UpdateCredentials(func(c *Credentials) error { c.AdminHash = string(hash); return nil }); err != nil {
		t.Fatal(err)
	}
	r, err := s.Rollback("admin", 1)
	if err != nil {
		t.Fatal(err)
	}
	creds, _ := s.Credentials()
	if r.Config.Rules != DefaultConfig().Rules || creds.AdminHash != string(hash) {
		t.Fatalf("rollback: rules %q hash kept %v", r.Config.Rules, creds.AdminHash == string(hash))
	}
	if r.Summary != "roll back to revision 1" || r.N != 3 {
		t.Fatalf("rollback revision %d %q", r.N, r.Summary)
	}
	if _, err := s.Rollback("admin", 99); !errors.Is(err, ErrNoRevision) {
		t.Fatalf("rollback to missing: %v", err)
	}
}

func TestAdminHashFileAdopted(t *testing.T) {
	dir := t.TempDir()
	hash, _ := bcrypt.GenerateFromPassword([]byte("preset-password"), MinBcryptCost)
	os.WriteFile(filepath.Join(dir, adminHashFile), append(hash, '\n'), 0o600)
	s, warnings := openTestStore(t, dir, Options{})
	if creds, _ := s.Credentials(); creds.AdminHash != string(hash) || len(warnings) != 0 {
		t.Fatalf("hash not adopted: %v", warnings)
	}
	// A preset password means no first run and no setup code.
	if code, needed, err := s.SetupCode(); needed || code != "" || err != nil {
		t.Fatalf("setup code with a preset password: %q %v %v", code, needed, err)
	}
	// A weak hash is refused with a warning.
	dir2 := t.TempDir()
	weak, _ := bcrypt.GenerateFromPassword([]byte("preset-password"), 4)
	os.WriteFile(filepath.Join(dir2, adminHashFile), weak, 0o600)
	s2, warnings := openTestStore(t, dir2, Options{})
	if creds, _ := s2.Credentials(); creds.AdminHash != "" || len(warnings) != 1 || !strings.Contains(warnings[0], "cost 4") {
		t.Fatalf("weak hash: %v", warnings)
	}
}

func TestExportImport(t *testing.T) {
	s, _ := openTestStore(t, t.TempDir(), Options{})
	s.Commit("admin", "rules", func(c *Config) error { c.Rules = "pass in proto tcp to any port 22\n"; return nil })
	data, err := s.Export()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := openTestStore(t, t.TempDir(), Options{})
	if _, err := s2.Import("admin", data); err != nil {
		t.Fatal(err)
	}
	if s2.Current().Config.Rules != "pass in proto tcp to any port 22\n" {
		t.Fatalf("imported rules %q", s2.Current().Config.Rules)
	}
	bad := strings.Replace(string(data), "any port 22", "port banana", 1)
	for name, in := range map[string]string{
		"bad rules":   bad,
		"not json":    "hello",
		"wrong shape": `{"format": "rackwall-config/1", "surprise": 1}`,
		"no format":   `{"policy": "", "rules": ""}`,
	} {
		before := s2.Current().N
		if _, err := s2.Import("admin", []byte(in)); err == nil {
			t.Errorf("%s: import accepted", name)
		}
		if s2.Current().N != before {
			t.Errorf("%s: a bad import changed the config", name)
		}
	}
	_, err = s2.Import("admin", []byte(bad))
	if !strings.Contains(err.Error(), "rules: line 1") {
		t.Fatalf("import error does not say where: %v", err)
	}
}

func TestAuditLog(t *testing.T) {
	dir := t.TempDir()
	a := NewAuditLog(dir, nil)
	for i := 0; i < 5; i++ {
		if _, err := a.Append("admin", "action "+fmtInt(i), "detail"); err != nil {
			t.Fatal(err)
		}
	}
	// A torn last line is skipped.
	f, _ := os.OpenFile(filepath.Join(dir, auditFile), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"time": "20`)
	f.Close()
	got, err := a.Recent(3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Action != "action 4" || got[2].Action != "action 2" {
		t.Fatalf("recent = %+v", got)
	}
}

func TestOldRevisionThatNoLongerValidatesIsListedButNotRestored(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	s.Commit("admin", "two", func(c *Config) error { c.Rules = "pass all\n"; return nil })
	// Revision 1 as an older firmware might have written it.
	r, _ := s.Revision(1)
	r.Config.Rules = "an old syntax\n"
	data, _ := json.Marshal(r)
	os.WriteFile(s.revisionPath(1), data, 0o600)
	if revs := s.Revisions(); len(revs) != 2 {
		t.Fatalf("listed %d revisions", len(revs))
	}
	if got, err := s.Revision(1); err != nil || got.Config.Rules != "an old syntax\n" {
		t.Fatalf("revision 1: %v", err)
	}
	var ce *ConfigError
	if _, err := s.Rollback("admin", 1); !errors.As(err, &ce) || ce.Part != "rules" {
		t.Fatalf("rollback to an invalid revision: %v", err)
	}
	if s.Current().N != 2 {
		t.Fatal("a refused rollback changed the config")
	}
}
