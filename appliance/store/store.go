package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// File names inside the state directory.
const (
	currentFile   = "rackwall.json"
	revisionsDir  = "revisions"
	adminHashFile = "admin.hash" // written by the image builder to preset the admin password
	// KeepRevisions is how many revisions the store keeps; older ones are deleted.
	KeepRevisions = 20
)

// Revision is one numbered state of the config with who made it, when and why.
type Revision struct {
	N       int       `json:"revision"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Summary string    `json:"summary"`
	Config  Config    `json:"config"`
}

// RevisionInfo is a revision without its config, for listings.
type RevisionInfo struct {
	N       int       `json:"revision"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Summary string    `json:"summary"`
}

// Info returns the revision's listing entry.
func (r Revision) Info() RevisionInfo {
	return RevisionInfo{N: r.N, Author: r.Author, Time: r.Time, Summary: r.Summary}
}

// Options tune a Store; the zero value is the production setup.
type Options struct {
	// Validate checks a whole config; nil means ValidateConfig.
	Validate func(Config) error
	// Default builds the config of a fresh box; nil means DefaultConfig.
	Default func() Config
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// WriteFile replaces a file atomically; nil means the real thing. Tests
	// inject failures here.
	WriteFile func(path string, data []byte) error
}

// Store keeps the config in one file in the state directory (on /perm) plus
// the last KeepRevisions revisions beside it. It is safe for concurrent use.
type Store struct {
	dir      string
	validate func(Config) error
	now      func() time.Time
	write    func(string, []byte) error

	mu   sync.Mutex
	cur  Revision
	next int // number of the next revision

	// credsMu guards the credentials, kept in their own file; credsErr is
	// set when that file exists but cannot be read, which locks the UI.
	credsMu  sync.Mutex
	creds    Credentials
	credsErr error
}

// ErrNoRevision is returned for a revision number the store does not hold.
var ErrNoRevision = errors.New("no such revision")

// Open loads the config from dir. It never leaves the box without a
// config: a corrupt or invalid current file is moved aside (renamed with a
// .corrupt-<time> suffix) and the newest valid revision takes its place, or a
// fresh default config when there is none. Everything it had to repair is
// returned as warnings for the caller to log and show. It fails only when dir
// cannot be created; a config it cannot persist is kept in memory and
// reported.
func Open(dir string, opts Options) (*Store, []string, error) {
	s := &Store{dir: dir, validate: opts.Validate, now: opts.Now, write: opts.WriteFile}
	if s.validate == nil {
		s.validate = ValidateConfig
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.write == nil {
		s.write = WriteFileAtomic
	}
	def := opts.Default
	if def == nil {
		def = DefaultConfig
	}
	if err := os.MkdirAll(filepath.Join(dir, revisionsDir), 0o700); err != nil {
		return nil, nil, fmt.Errorf("config store: %w", err)
	}
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	maxN := s.maxRevisionFile()
	cur, ignored, err := s.readRevision(filepath.Join(dir, currentFile))
	loaded := err == nil
	if loaded && len(ignored) > 0 {
		warn("config %s has fields this firmware does not know (written by a newer version?); ignored: %s", currentFile, strings.Join(ignored, ", "))
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		aside := filepath.Join(dir, currentFile+".corrupt-"+s.now().UTC().Format("20060102T150405Z"))
		if rerr := os.Rename(filepath.Join(dir, currentFile), aside); rerr != nil {
			warn("config %s is unusable (%v) and could not be moved aside: %v", currentFile, err, rerr)
		} else {
			warn("config %s is unusable (%v); moved aside to %s", currentFile, err, filepath.Base(aside))
		}
	}
	if !loaded {
		// Fall back to the newest revision that still loads and validates.
		var unusable []string
		cur, loaded, unusable = s.newestValidRevision()
		warnings = append(warnings, unusable...)
		if loaded {
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				warn("using the last good revision %d (%s)", cur.N, cur.Summary)
			} else {
				warn("config %s is missing; using revision %d", currentFile, cur.N)
			}
		}
		if !loaded {
			cur = Revision{N: maxN + 1, Author: "system", Time: s.now().UTC(), Summary: "initial configuration", Config: def()}
			if verr := s.validate(cur.Config); verr != nil {
				// The shipped default must always be valid; say so loudly
				// but still boot with it.
				warn("the default config does not validate: %v", verr)
			}
			if err != nil && !errors.Is(err, fs.ErrNotExist) {
				warn("no usable revision left; starting from the default config")
			}
		}
		if perr := s.persist(cur, loaded); perr != nil {
			warn("config could not be saved (running from memory): %v", perr)
		}
	}
	s.cur = cur
	s.next = max(maxN, cur.N) + 1
	warnings = append(warnings, s.loadCredentials()...)
	return s, warnings, nil
}

// newestValidRevision returns the newest revision file that loads and
// validates, if any, and a line for each newer one that does not.
func (s *Store) newestValidRevision() (Revision, bool, []string) {
	var unusable []string
	infos := s.revisionFiles()
	for i := len(infos) - 1; i >= 0; i-- {
		r, ignored, err := s.readRevision(s.revisionPath(infos[i]))
		if err != nil {
			unusable = append(unusable, fmt.Sprintf("revision %d is unusable: %v", infos[i], err))
			continue
		}
		if len(ignored) > 0 {
			unusable = append(unusable, fmt.Sprintf("revision %d has fields this firmware does not know; ignored: %s", infos[i], strings.Join(ignored, ", ")))
		}
		return r, true, unusable
	}
	return Revision{}, false, unusable
}

// persist writes r as a revision file (unless it is already one) and as the
// current file.
func (s *Store) persist(r Revision, isRevisionFile bool) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if !isRevisionFile {
		if err := s.write(s.revisionPath(r.N), data); err != nil {
			return err
		}
	}
	return s.write(filepath.Join(s.dir, currentFile), data)
}

// Current returns the running revision.
func (s *Store) Current() Revision {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur.clone()
}

// Commit applies change to a copy of the current config, validates the
// result and stores it as a new revision. If change, validation or any write
// fails, nothing changes, on disk or in memory.
func (s *Store) Commit(author, summary string, change func(*Config) error) (Revision, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.cur.clone()
	if err := change(&next.Config); err != nil {
		return Revision{}, err
	}
	if err := s.validate(next.Config); err != nil {
		return Revision{}, err
	}
	next.N = s.next
	next.Author = author
	next.Time = s.now().UTC()
	next.Summary = oneLine(summary)
	data, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return Revision{}, err
	}
	if err := s.write(s.revisionPath(next.N), data); err != nil {
		return Revision{}, fmt.Errorf("config not saved: %w", err)
	}
	if err := s.write(filepath.Join(s.dir, currentFile), data); err != nil {
		os.Remove(s.revisionPath(next.N))
		return Revision{}, fmt.Errorf("config not saved: %w", err)
	}
	s.cur = next
	s.next++
	s.prune()
	return next.clone(), nil
}

// Rollback makes the config of revision n current again, as a new revision.
// The credentials are not part of it and stay as they are.
func (s *Store) Rollback(author string, n int) (Revision, error) {
	old, err := s.Revision(n)
	if err != nil {
		return Revision{}, err
	}
	return s.Commit(author, fmt.Sprintf("roll back to revision %d", n), func(c *Config) error {
		*c = old.Config
		return nil
	})
}

// Revision returns the stored revision n.
func (s *Store) Revision(n int) (Revision, error) {
	s.mu.Lock()
	cur := s.cur
	s.mu.Unlock()
	if n == cur.N {
		return cur.clone(), nil
	}
	// Old revisions are read without validation: one that today's parsers
	// reject can still be listed and diffed; rolling back to it validates.
	r, _, err := s.readRevisionFile(s.revisionPath(n))
	if errors.Is(err, fs.ErrNotExist) {
		return Revision{}, fmt.Errorf("revision %d: %w", n, ErrNoRevision)
	}
	return r, err
}

// Revisions lists the stored revisions, newest first.
func (s *Store) Revisions() []RevisionInfo {
	nums := s.revisionFiles()
	out := make([]RevisionInfo, 0, len(nums))
	for i := len(nums) - 1; i >= 0; i-- {
		r, _, err := s.readRevisionFile(s.revisionPath(nums[i]))
		if err != nil {
			continue // unreadable: nothing useful to list
		}
		out = append(out, r.Info())
	}
	return out
}

func (s *Store) revisionPath(n int) string {
	return filepath.Join(s.dir, revisionsDir, fmt.Sprintf("rev-%08d.json", n))
}

// revisionFiles returns the numbers of the revision files, ascending.
func (s *Store) revisionFiles() []int {
	entries, err := os.ReadDir(filepath.Join(s.dir, revisionsDir))
	if err != nil {
		return nil
	}
	var nums []int
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, "rev-") || !strings.HasSuffix(name, ".json") {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(name, "rev-"), ".json"))
		if err == nil && n > 0 {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums
}

func (s *Store) maxRevisionFile() int {
	nums := s.revisionFiles()
	if len(nums) == 0 {
		return 0
	}
	return nums[len(nums)-1]
}

// prune deletes all but the newest KeepRevisions revision files.
func (s *Store) prune() {
	nums := s.revisionFiles()
	for len(nums) > KeepRevisions {
		os.Remove(s.revisionPath(nums[0]))
		nums = nums[1:]
	}
}

// readRevisionFile reads and decodes one revision file; ignored names the
// fields it does not know.
func (s *Store) readRevisionFile(path string) (r Revision, ignored []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Revision{}, nil, err
	}
	return decodeRevision(data)
}

// readRevision reads one revision file and validates its config.
func (s *Store) readRevision(path string) (Revision, []string, error) {
	r, ignored, err := s.readRevisionFile(path)
	if err != nil {
		return Revision{}, nil, err
	}
	if err := s.validate(r.Config); err != nil {
		return Revision{}, nil, fmt.Errorf("invalid: %w", err)
	}
	return r, ignored, nil
}

func (r Revision) clone() Revision {
	c := r
	c.Config.Settings.MgmtDNS = slices.Clone(r.Config.Settings.MgmtDNS)
	return c
}

// oneLine keeps a summary to one short line.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		s = s[:200]
	}
	if s == "" {
		s = "(no summary)"
	}
	return s
}
