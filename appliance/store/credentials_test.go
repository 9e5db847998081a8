package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func testHash(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), MinBcryptCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func testToken(id string) APIToken {
	return APIToken{ID: id, Name: "token " + id, Hash: strings.Repeat(id[:1], 64), Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// A config whose every revision fails to load (newer firmware's files after
// an A/B fallback, corruption) falls back to the defaults, but the password
// and tokens stay: the first run must not reopen.
func TestCredentialsSurviveUnreadableRevisions(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	hash := testHash(t, "owner password")
	if err := s.UpdateCredentials(func(c *Credentials) error {
		c.AdminHash = hash
		c.Tokens = []APIToken{testToken("a1"), testToken("b2")}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Commit("admin", "rules", func(c *Config) error { c.Rules = fmt.Sprintf("block in from 192.0.2.%d\n", i); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	// Every config file becomes unreadable.
	os.WriteFile(filepath.Join(dir, currentFile), []byte("\x00garbage"), 0o600)
	for _, n := range s.revisionFiles() {
		os.WriteFile(s.revisionPath(n), []byte(`{"revision":`), 0o600)
	}
	s2, warnings := openTestStore(t, dir, Options{})
	if !strings.Contains(strings.Join(warnings, "\n"), "starting from the default config") {
		t.Fatalf("the config did not fall back to the defaults: %v", warnings)
	}
	creds, err := s2.Credentials()
	if err != nil || creds.AdminHash != hash || len(creds.Tokens) != 2 || creds.Tokens[1] != testToken("b2") {
		t.Fatalf("credentials after the fallback: %+v, %v", creds, err)
	}
	if code, needed, err := s2.SetupCode(); needed || code != "" || err != nil {
		t.Fatalf("first run reopened: code %q needed %v err %v", code, needed, err)
	}
}

// A credentials file that cannot be read locks the box: no first run, no
// setup code, no change that would overwrite it, no adopted preset.
func TestCorruptCredentialsLockRatherThanReopen(t *testing.T) {
	dir := t.TempDir()
	corrupt := []byte(`{"format":"rackwall-credentials/1","admin_hash":"$2a$1`)
	os.WriteFile(filepath.Join(dir, credentialsFile), corrupt, 0o600)
	os.WriteFile(filepath.Join(dir, adminHashFile), []byte(testHash(t, "preset password")), 0o600)
	s, warnings := openTestStore(t, dir, Options{})
	if !strings.Contains(strings.Join(warnings, "\n"), "web UI is locked") {
		t.Fatalf("warnings %v", warnings)
	}
	if _, err := s.Credentials(); !errors.Is(err, ErrCredentialsUnreadable) {
		t.Fatalf("Credentials() = %v", err)
	}
	if _, needed, err := s.SetupCode(); needed || !errors.Is(err, ErrCredentialsUnreadable) {
		t.Fatalf("SetupCode() needed %v err %v", needed, err)
	}
	if _, err := os.Stat(filepath.Join(dir, setupCodeFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("a setup code was made for a locked box")
	}
	if s.CheckSetupCode("0000-0000-0000-0000") {
		t.Fatal("a setup code was accepted on a locked box")
	}
	if err := s.UpdateCredentials(func(c *Credentials) error { c.AdminHash = testHash(t, "attacker password"); return nil }); !errors.Is(err, ErrCredentialsUnreadable) {
		t.Fatalf("UpdateCredentials on a locked box = %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, credentialsFile)); string(got) != string(corrupt) {
		t.Fatal("the unreadable credentials file was replaced")
	}
}

// Revisions written by newer firmware carry fields this one does not know;
// they load, with a warning that names the fields.
func TestRevisionWithUnknownFieldLoadsWithWarning(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	if _, err := s.Commit("admin", "rules", func(c *Config) error { c.Rules = "block in from 192.0.2.1\n"; return nil }); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, currentFile))
	newer := strings.Replace(string(data), `"settings": {`, `"settings": {"tcp_fast_open": true, `, 1)
	newer = strings.Replace(newer, `"revision": 2,`, `"revision": 2, "signature": "abc",`, 1)
	if newer == string(data) {
		t.Fatal("test setup: no field added")
	}
	os.WriteFile(filepath.Join(dir, currentFile), []byte(newer), 0o600)
	s2, warnings := openTestStore(t, dir, Options{})
	if s2.Current().N != 2 || s2.Current().Config.Rules != "block in from 192.0.2.1\n" {
		t.Fatalf("loaded revision %d %q, want revision 2 with its rules", s2.Current().N, s2.Current().Config.Rules)
	}
	all := strings.Join(warnings, "\n")
	if len(warnings) != 1 || !strings.Contains(all, "config.settings.tcp_fast_open") || !strings.Contains(all, "signature") {
		t.Fatalf("warnings %v", warnings)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, currentFile+".corrupt-*")); len(matches) != 0 {
		t.Fatalf("a readable config was moved aside: %v", matches)
	}
}

// A credentials write that fails leaves the old file and the running
// credentials as they were.
func TestFailedCredentialsWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	fail := false
	s, _ := openTestStore(t, dir, Options{WriteFile: func(path string, data []byte) error {
		if fail && filepath.Base(path) == credentialsFile {
			return errors.New("disk full")
		}
		return WriteFileAtomic(path, data)
	}})
	old := testHash(t, "old password")
	if err := s.UpdateCredentials(func(c *Credentials) error { c.AdminHash = old; c.Tokens = []APIToken{testToken("a1")}; return nil }); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, credentialsFile))
	fail = true
	if err := s.UpdateCredentials(func(c *Credentials) error { c.AdminHash = testHash(t, "new password"); return nil }); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("UpdateCredentials with a failing disk = %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, credentialsFile))
	if string(after) != string(before) {
		t.Fatal("a failed write changed the credentials file")
	}
	if creds, _ := s.Credentials(); creds.AdminHash != old || len(creds.Tokens) != 1 {
		t.Fatalf("a failed write changed the running credentials: %+v", creds)
	}
	fail = false
	reopened, _ := openTestStore(t, dir, Options{})
	if creds, _ := reopened.Credentials(); creds.AdminHash != old {
		t.Fatal("the old password did not survive a restart")
	}
}

// The first start of this firmware moves the credentials out of the newest
// revision that still decodes, and then out of every revision and export.
func TestCredentialsMigrateOutOfRevisions(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, revisionsDir), 0o700)
	older, newer := testHash(t, "older password"), testHash(t, "newer password")
	rev := func(n int, hash string) string {
		return fmt.Sprintf(`{"revision": %d, "author": "admin", "time": "2026-01-01T00:00:00Z", "summary": "s",
			"config": {"policy": %q, "rules": "", "settings": {"confirm_seconds": 60, "listen_https": ":443", "mgmt_mode": "dhcp", "bridge_mtu": 1500, "fail_mode": "open"},
			"auth": {"admin_hash": %q, "tokens": [{"id": "t1", "name": "ci", "hash": %q, "created": "2026-01-01T00:00:00Z"}]}}}`,
			n, DefaultConfig().Policy, hash, strings.Repeat("c", 64))
	}
	s0 := &Store{dir: dir}
	os.WriteFile(s0.revisionPath(1), []byte(rev(1, older)), 0o600)
	os.WriteFile(s0.revisionPath(2), []byte(rev(2, newer)), 0o600)
	os.WriteFile(filepath.Join(dir, currentFile), []byte("torn"), 0o600) // the current file is lost
	s, warnings := openTestStore(t, dir, Options{})
	creds, err := s.Credentials()
	if err != nil || creds.AdminHash != newer || len(creds.Tokens) != 1 || creds.Tokens[0].Name != "ci" {
		t.Fatalf("migrated %+v, %v (warnings %v)", creds, err, warnings)
	}
	fi, err := os.Stat(filepath.Join(dir, credentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	// No config file keeps a copy of the secrets.
	files, _ := filepath.Glob(filepath.Join(dir, revisionsDir, "*.json"))
	files = append(files, filepath.Join(dir, currentFile))
	for _, f := range files {
		data, _ := os.ReadFile(f)
		if strings.Contains(string(data), "$2a$") || strings.Contains(string(data), strings.Repeat("c", 64)) {
			t.Errorf("%s still carries credentials", filepath.Base(f))
		}
	}
	if _, err := s.Revision(1); err != nil {
		t.Fatalf("a stripped revision no longer loads: %v", err)
	}
	if exp, _ := s.Export(); strings.Contains(string(exp), "$2a$") || strings.Contains(string(exp), `"auth"`) {
		t.Fatal("the export carries credentials")
	}
	// New revisions are written without them.
	r, _ := s.Commit("admin", "rules", func(c *Config) error { c.Rules = "block all\n"; return nil })
	data, _ := os.ReadFile(s.revisionPath(r.N))
	if strings.Contains(string(data), `"auth"`) {
		t.Fatalf("a new revision carries an auth part: %s", data)
	}
}

func TestSetupCode(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	code, needed, err := s.SetupCode()
	if err != nil || !needed || !validSetupCode(code) || len(code) != 19 || strings.Count(code, "-") != 3 {
		t.Fatalf("SetupCode() = %q %v %v", code, needed, err)
	}
	fi, err := os.Stat(filepath.Join(dir, setupCodeFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("setup code file: %v %v", fi, err)
	}
	// The same code after a restart: the console print stays right.
	s2, _ := openTestStore(t, dir, Options{})
	if again, _, _ := s2.SetupCode(); again != code {
		t.Fatalf("code changed across a restart: %q then %q", code, again)
	}
	typed := strings.ToLower(strings.ReplaceAll(code, "-", " "))
	for in, want := range map[string]bool{code: true, typed: true, "": false, code[:18]: false, code + "0": false} {
		if got := s2.CheckSetupCode(in); got != want {
			t.Errorf("CheckSetupCode(%q) = %v, want %v", in, got, want)
		}
	}
	if err := s2.UpdateCredentials(func(c *Credentials) error { c.AdminHash = testHash(t, "owner password"); return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, setupCodeFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("the setup code outlived the first run")
	}
	if s2.CheckSetupCode(code) {
		t.Fatal("the setup code still works after the first run")
	}
	// Two boxes do not share a code.
	other, _ := openTestStore(t, t.TempDir(), Options{})
	if c2, _, _ := other.SetupCode(); c2 == code {
		t.Fatal("two fresh boxes have the same setup code")
	}
	if normalizeSetupCode("o1l-i") != "0111" {
		t.Fatalf("normalize = %q", normalizeSetupCode("o1l-i"))
	}
}
