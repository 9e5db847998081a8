package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The credentials (the admin password hash and the API token hashes) live in
// their own file beside the config, not in its revisions. A config that
// falls back to an older revision or to the defaults (a revision written by
// newer firmware after an A/B fallback, a stricter validator, corruption)
// must not take the password with it: that would reopen the first-run page
// to whoever reaches the UI first.
const (
	credentialsFile   = "credentials.json"
	credentialsFormat = "rackwall-credentials/1"
)

// ErrCredentialsUnreadable is returned by every credentials operation while
// the credentials file exists but cannot be read or decoded. The store then
// neither reopens first-run setup nor accepts a login: the owner resets the
// credentials on the console (see docs/MANUAL.md, "Security").
var ErrCredentialsUnreadable = errors.New("the stored credentials are unreadable; reset them on the console")

// Credentials are the admin password hash and the API token hashes.
type Credentials struct {
	AdminHash string     `json:"admin_hash,omitempty"`
	Tokens    []APIToken `json:"tokens,omitempty"`
}

// APIToken is a stored API token: only the SHA-256 of the secret is kept.
type APIToken struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Hash    string    `json:"hash"` // hex SHA-256 of the token
	Created time.Time `json:"created"`
}

// credentialsDoc is the credentials file.
type credentialsDoc struct {
	Format string `json:"format"`
	Credentials
}

func (c Credentials) clone() Credentials {
	c.Tokens = slices.Clone(c.Tokens)
	return c
}

// validate checks the shape of stored credentials.
func (c Credentials) validate() error {
	if c.AdminHash != "" {
		if err := CheckPasswordHash(c.AdminHash); err != nil {
			return &ConfigError{Part: "auth", Msg: err.Error()}
		}
	}
	seen := map[string]bool{}
	for _, t := range c.Tokens {
		if t.ID == "" || seen[t.ID] || len(t.Hash) != 64 {
			return &ConfigError{Part: "auth", Msg: fmt.Sprintf("API token %q is malformed", t.ID)}
		}
		seen[t.ID] = true
	}
	return nil
}

func (s *Store) credentialsPath() string { return filepath.Join(s.dir, credentialsFile) }

// readCredentials reads the credentials file; fs.ErrNotExist when there is none.
func (s *Store) readCredentials() (Credentials, error) {
	data, err := os.ReadFile(s.credentialsPath())
	if err != nil {
		return Credentials{}, err
	}
	return decodeCredentials(data)
}

func decodeCredentials(data []byte) (Credentials, error) {
	var doc credentialsDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return Credentials{}, fmt.Errorf("not a credentials file: %w", err)
	}
	if dec.More() {
		return Credentials{}, errors.New("not a credentials file: trailing data")
	}
	if doc.Format != credentialsFormat {
		return Credentials{}, fmt.Errorf("credentials format %q is not %q", doc.Format, credentialsFormat)
	}
	if err := doc.Credentials.validate(); err != nil {
		return Credentials{}, err
	}
	return doc.Credentials, nil
}

// writeCredentials replaces the credentials file atomically (only root can
// read it: the temporary file is created 0600 and renamed into place).
func (s *Store) writeCredentials(c Credentials) error {
	data, err := json.MarshalIndent(credentialsDoc{Format: credentialsFormat, Credentials: c}, "", "  ")
	if err != nil {
		return err
	}
	if err := s.write(s.credentialsPath(), data); err != nil {
		return fmt.Errorf("credentials not saved: %w", err)
	}
	return nil
}

// loadCredentials runs at open: it reads the credentials file or, on the
// first start of a firmware that keeps them apart, moves them out of the
// newest revision that still decodes, then adopts an admin hash the image
// builder left. It returns warnings for the caller.
func (s *Store) loadCredentials() []string {
	var warnings []string
	creds, err := s.readCredentials()
	switch {
	case err == nil:
		s.creds = creds
	case errors.Is(err, fs.ErrNotExist):
		creds, from := s.legacyCredentials()
		if from != "" {
			if werr := s.writeCredentials(creds); werr != nil {
				warnings = append(warnings, fmt.Sprintf("credentials from %s could not be moved to %s (kept in memory): %v", from, credentialsFile, werr))
			} else {
				warnings = append(warnings, s.stripLegacyCredentials()...)
			}
		}
		s.creds = creds
	default:
		// Never fall back to "no password": that would reopen first-run
		// setup to anyone on the network.
		s.credsErr = fmt.Errorf("%s: %v: %w", credentialsFile, err, ErrCredentialsUnreadable)
		warnings = append(warnings, fmt.Sprintf("credentials file %s is unreadable (%v); the web UI is locked until the credentials are reset on the console", credentialsFile, err))
		return warnings
	}
	if w := s.adoptAdminHash(); w != "" {
		warnings = append(warnings, w)
	}
	return warnings
}

// legacyCredentials returns the credentials stored in the newest revision
// file (or current file) that still decodes, and which file that was; ""
// when no revision carries any.
func (s *Store) legacyCredentials() (Credentials, string) {
	paths := []string{filepath.Join(s.dir, currentFile)}
	nums := s.revisionFiles()
	for i := len(nums) - 1; i >= 0; i-- {
		paths = append(paths, s.revisionPath(nums[i]))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		auth, err := decodeLegacyAuth(data)
		if err != nil || auth == nil {
			continue
		}
		if auth.validate() != nil {
			continue
		}
		return auth.clone(), filepath.Base(p)
	}
	return Credentials{}, ""
}

// stripLegacyCredentials rewrites the config files that still carry
// credentials without them, once the credentials file holds them: the
// secrets then live in one root-only file, and a later reset of that file
// cannot bring an old password back from a revision.
func (s *Store) stripLegacyCredentials() []string {
	var warnings []string
	paths := []string{filepath.Join(s.dir, currentFile)}
	for _, n := range s.revisionFiles() {
		paths = append(paths, s.revisionPath(n))
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var doc map[string]json.RawMessage
		if json.Unmarshal(data, &doc) != nil {
			continue
		}
		var cfg map[string]json.RawMessage
		if json.Unmarshal(doc["config"], &cfg) != nil {
			continue
		}
		if _, ok := cfg["auth"]; !ok {
			continue
		}
		delete(cfg, "auth")
		if doc["config"], err = json.Marshal(cfg); err == nil {
			data, err = json.MarshalIndent(doc, "", "  ")
		}
		if err == nil {
			err = s.write(p, data)
		}
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("old credentials could not be removed from %s: %v", filepath.Base(p), err))
		}
	}
	return warnings
}

// decodeLegacyAuth returns the "auth" part of a revision written before the
// credentials had their own file, or nil.
func decodeLegacyAuth(data []byte) (*Credentials, error) {
	var legacy struct {
		Config struct {
			Auth *Credentials `json:"auth"`
		} `json:"config"`
	}
	if err := json.Unmarshal(data, &legacy); err != nil {
		return nil, err
	}
	return legacy.Config.Auth, nil
}

// adoptAdminHash takes the admin password hash the image builder left in the
// state folder when no admin password is set yet.
func (s *Store) adoptAdminHash() string {
	if s.creds.AdminHash != "" {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(s.dir, adminHashFile))
	if err != nil {
		return ""
	}
	hash := strings.TrimSpace(string(b))
	if err := CheckPasswordHash(hash); err != nil {
		return fmt.Sprintf("%s ignored: %v", adminHashFile, err)
	}
	next := s.creds.clone()
	next.AdminHash = hash
	if err := s.writeCredentials(next); err != nil {
		return fmt.Sprintf("%s could not be adopted: %v", adminHashFile, err)
	}
	s.creds = next
	return ""
}

// Credentials returns the stored credentials, or an error wrapping
// ErrCredentialsUnreadable while the file cannot be read.
func (s *Store) Credentials() (Credentials, error) {
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if s.credsErr != nil {
		return Credentials{}, s.credsErr
	}
	return s.creds.clone(), nil
}

// UpdateCredentials applies change to a copy of the credentials, validates
// it and writes it. If change, validation or the write fails, nothing
// changes, on disk or in memory. The first admin password retires the
// first-run setup code.
func (s *Store) UpdateCredentials(change func(*Credentials) error) error {
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if s.credsErr != nil {
		return s.credsErr
	}
	next := s.creds.clone()
	if err := change(&next); err != nil {
		return err
	}
	if err := next.validate(); err != nil {
		return err
	}
	if err := s.writeCredentials(next); err != nil {
		return err
	}
	s.creds = next
	if next.AdminHash != "" {
		s.removeSetupCode()
	}
	return nil
}
