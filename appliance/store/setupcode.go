package store

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// A box without an admin password asks for a one-time setup code before it
// lets anyone choose one, so the first stranger to reach the UI cannot take
// the box. The code is made here, kept root-only in the state folder, shown
// on the box's consoles, and deleted once the password is set.
const (
	setupCodeFile = "setup-code"
	// setupCodeAlphabet is Crockford's base32: no I, L, O or U, so nothing
	// reads as something else on a console font.
	setupCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	setupCodeGroups   = 4
	setupCodeGroupLen = 4 // 16 characters, 80 random bits
)

// newSetupCode returns a fresh code like "7K3M-Q9ZD-2HXA-F0RT".
func newSetupCode() (string, error) {
	// 32 symbols divide 256, so byte%32 is uniform.
	b := make([]byte, setupCodeGroups*setupCodeGroupLen)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	var out strings.Builder
	for i, c := range b {
		if i > 0 && i%setupCodeGroupLen == 0 {
			out.WriteByte('-')
		}
		out.WriteByte(setupCodeAlphabet[c%32])
	}
	return out.String(), nil
}

// normalizeSetupCode forgives what people do when typing a code: lower
// case, spaces or no dashes, and O, I or L for the digits they look like.
func normalizeSetupCode(s string) string {
	var out strings.Builder
	for _, c := range strings.ToUpper(s) {
		switch c {
		case '-', ' ', '\t':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		out.WriteRune(c)
	}
	return out.String()
}

func validSetupCode(s string) bool {
	n := normalizeSetupCode(s)
	if len(n) != setupCodeGroups*setupCodeGroupLen {
		return false
	}
	for _, c := range n {
		if !strings.ContainsRune(setupCodeAlphabet, c) {
			return false
		}
	}
	return true
}

func (s *Store) setupCodePath() string { return filepath.Join(s.dir, setupCodeFile) }

// SetupCode returns the first-run setup code, making and storing one when
// there is none yet. needed is false (and code empty) once an admin
// password exists. While the credentials are unreadable it returns their
// error: a locked box offers no first run.
func (s *Store) SetupCode() (code string, needed bool, err error) {
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if s.credsErr != nil {
		return "", false, s.credsErr
	}
	if s.creds.AdminHash != "" {
		s.removeSetupCode()
		return "", false, nil
	}
	if b, err := os.ReadFile(s.setupCodePath()); err == nil && validSetupCode(strings.TrimSpace(string(b))) {
		// The same code across restarts: the one on the console stays right.
		return strings.TrimSpace(string(b)), true, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", true, fmt.Errorf("setup code: %w", err)
	}
	code, err = newSetupCode()
	if err != nil {
		return "", true, fmt.Errorf("setup code: %w", err)
	}
	if err := s.write(s.setupCodePath(), []byte(code+"\n")); err != nil {
		return "", true, fmt.Errorf("setup code: %w", err)
	}
	return code, true, nil
}

// CheckSetupCode reports whether code is the stored first-run setup code.
// It is false once an admin password exists or when no code was made.
func (s *Store) CheckSetupCode(code string) bool {
	s.credsMu.Lock()
	defer s.credsMu.Unlock()
	if s.credsErr != nil || s.creds.AdminHash != "" {
		return false
	}
	b, err := os.ReadFile(s.setupCodePath())
	if err != nil {
		return false
	}
	want := normalizeSetupCode(strings.TrimSpace(string(b)))
	got := normalizeSetupCode(code)
	return want != "" && subtle.ConstantTimeCompare([]byte(want), []byte(got)) == 1
}

// removeSetupCode deletes the code once it has served; credsMu is held.
func (s *Store) removeSetupCode() {
	if err := os.Remove(s.setupCodePath()); err == nil {
		syncDir(s.dir)
	}
}

// SetupCodePath is where the setup code is kept, for messages.
func (s *Store) SetupCodePath() string { return s.setupCodePath() }
