package update

import (
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

// How the new slot is made the one systemd-boot picks, and why.
//
// loader.conf says "default rackwall-*", and systemd-boot (version 252, as
// shipped) boots the FIRST entry of its sorted list that matches. Its
// ordering of type #1 entries (boot_entry_compare / config_entry_compare):
//
//  1. entries with no tries left (+0…) go last ("bad");
//  2. entries with a sort-key line go before entries without one;
//  3. among entries that both have a sort-key: by sort-key ascending, then
//     machine-id, then version DEScending;
//  4. finally by entry id in DEScending version order ("rackwall-b" before
//     "rackwall-a").
//
// Rule 4 alone would always prefer slot B when both are good, so the order
// cannot be left to the file names. rackwall keeps one invariant instead:
// exactly the preferred slot's entry carries "sort-key rackwall"; the other
// slot's entry (the fallback) carries none. Then:
//
//   - arming writes the new slot's entry with the sort-key and a counter
//     (+3), and only then removes the sort-key from the running slot's
//     entry, so the new slot sorts first by rule 2 while it has tries
//     left. In between both carry the sort-key and rule 3 puts the higher
//     version first: either way a complete slot boots;
//   - every try renames it (+2-1, +1-2, +0-3); at +0 it is bad and rule 1
//     puts it behind the old entry, which then boots: the fallback;
//   - blessing renames it without a counter; it keeps the sort-key and stays
//     first across every later reboot;
//   - the image builder's first entry (rackwall-a.conf) has no sort-key: as
//     the only entry it is the default anyway.
//
// Every step is a single file operation, synced (file and directory)
// before the next, ordered so that a power cut between any two of them
// leaves a box that boots a complete slot: the inactive slot's entry and
// kernel are removed BEFORE its root is overwritten; the new entry appears
// after its kernel and root are complete; and the running slot's entry,
// the only bootable one until then, is rewritten only after the new entry
// exists. That last point matters on FAT, where rewriting a file in place
// of another is not atomic: a cut in the middle can lose the old file.
const (
	entriesDir  = "/loader/entries"
	sortKeyLine = "sort-key rackwall"
	// DefaultTries is how many times a new slot is tried before the boot
	// loader gives up on it.
	DefaultTries = 3
)

// SlotEntry is one of rackwall's loader entries as found on the boot
// partition.
type SlotEntry struct {
	File      string // file name under /loader/entries
	Name      EntryName
	Version   string // the entry's "version" line
	Preferred bool   // carries the sort-key line
}

// ReadEntries lists rackwall's loader entries, in systemd-boot's boot
// order (the first is what the boot loader starts).
func ReadEntries(bfs BootFS) ([]SlotEntry, error) {
	names, err := bfs.ReadDir(entriesDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []SlotEntry
	for _, n := range names {
		en, ok := ParseEntryName(n)
		if !ok {
			continue
		}
		data, err := bfs.ReadFile(entriesDir + "/" + n)
		if err != nil {
			return nil, err
		}
		e := SlotEntry{File: n, Name: en}
		for _, line := range strings.Split(string(data), "\n") {
			key, val, _ := strings.Cut(strings.TrimSpace(line), " ")
			switch key {
			case "version":
				e.Version = strings.TrimSpace(val)
			case "sort-key":
				e.Preferred = true
			}
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return bootsBefore(out[i], out[j]) })
	return out, nil
}

// bootsBefore is systemd-boot's ordering restricted to what rackwall's
// entries vary in (see the comment at the top of this file).
func bootsBefore(a, b SlotEntry) bool {
	if a.Name.Bad() != b.Name.Bad() {
		return !a.Name.Bad()
	}
	if a.Preferred != b.Preferred {
		return a.Preferred
	}
	if a.Preferred && a.Version != b.Version {
		return versionLess(b.Version, a.Version)
	}
	// Descending id: "rackwall-b" before "rackwall-a".
	return a.Name.Slot > b.Name.Slot
}

// versionLess compares decimal version strings numerically when both are
// numbers, else as text.
func versionLess(a, b string) bool {
	if len(a) != len(b) && isDigits(a) && isDigits(b) {
		return len(a) < len(b)
	}
	return a < b
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// DefaultSlot is the slot the boot loader starts next.
func DefaultSlot(bfs BootFS) (layout.Slot, bool, error) {
	es, err := ReadEntries(bfs)
	if err != nil || len(es) == 0 {
		return "", false, err
	}
	return es[0].Name.Slot, true, nil
}

func entryOf(es []SlotEntry, s layout.Slot) (SlotEntry, bool) {
	for _, e := range es {
		if e.Name.Slot == s {
			return e, true
		}
	}
	return SlotEntry{}, false
}

// Other is the slot that is not s.
func Other(s layout.Slot) layout.Slot {
	if s == layout.SlotA {
		return layout.SlotB
	}
	return layout.SlotA
}

// uefiScheme is systemd-boot boot counting.
type uefiScheme struct{ board boards.Board }

// Disarm makes slot s unbootable before its root is overwritten: its
// entries go first (so the loader cannot pick it), then its kernel.
func (u uefiScheme) Disarm(bfs BootFS, s layout.Slot) error {
	es, err := ReadEntries(bfs)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Name.Slot == s {
			if err := bfs.Remove(entriesDir + "/" + e.File); err != nil {
				return err
			}
		}
	}
	return bfs.Remove(layout.KernelPath(u.board, s))
}

// Arm installs slot s's kernel and entry (already rendered, without a
// sort-key) so that the next boot tries s, at most tries times. The new
// entry is written before the running slot's entry is touched: until then
// the running entry may be the only bootable one.
func (u uefiScheme) Arm(bfs BootFS, s layout.Slot, kernel []byte, entry string, tries int) error {
	if tries < 1 || tries > maxTries {
		return fmt.Errorf("tries %d out of range", tries)
	}
	if err := u.Disarm(bfs, s); err != nil {
		return err
	}
	if err := bfs.WriteFile(layout.KernelPath(u.board, s), kernel); err != nil {
		return fmt.Errorf("writing slot %s kernel: %w", s, err)
	}
	name := EntryName{Slot: s, Counted: true, Left: tries}
	text := strings.TrimRight(stripSortKey(entry), "\n") + "\n" + sortKeyLine + "\n"
	if err := bfs.WriteFile(entriesDir+"/"+name.String(), []byte(text)); err != nil {
		return fmt.Errorf("writing slot %s boot entry: %w", s, err)
	}
	return demoteOthers(bfs, s)
}

// demoteOthers removes the sort-key from every entry not of slot keep.
func demoteOthers(bfs BootFS, keep layout.Slot) error {
	es, err := ReadEntries(bfs)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Name.Slot == keep || !e.Preferred {
			continue
		}
		p := entriesDir + "/" + e.File
		data, err := bfs.ReadFile(p)
		if err != nil {
			return err
		}
		if err := bfs.WriteFile(p, []byte(stripSortKey(string(data)))); err != nil {
			return fmt.Errorf("demoting %s: %w", e.File, err)
		}
	}
	return nil
}

func stripSortKey(text string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(text, "\n") {
		if k, _, _ := strings.Cut(strings.TrimSpace(line), " "); k == "sort-key" {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// Assess reads what the boot loader did: whether the running slot is on
// trial and whether the other slot's entry ran out of tries.
func (u uefiScheme) Assess(bfs BootFS, running layout.Slot) (Assessment, error) {
	es, err := ReadEntries(bfs)
	if err != nil {
		return Assessment{}, err
	}
	a := Assessment{Running: running}
	if e, ok := entryOf(es, running); ok {
		a.RunningVersion = e.Version
		// Any counter means "not blessed yet": the last try runs with
		// +0 already (systemd-boot counts down before it boots).
		a.Trial = e.Name.Counted
		a.TriesLeft = e.Name.Left
	}
	if e, ok := entryOf(es, Other(running)); ok {
		a.OtherPresent = true
		a.OtherVersion = e.Version
		a.OtherBad = e.Name.Bad()
		a.OtherTrial = e.Name.Trial()
	}
	if len(es) > 0 {
		a.Next = es[0].Name.Slot
	}
	return a, nil
}

// Bless keeps the running slot: its entry loses the counter (and keeps or
// gains the sort-key), every other entry loses the sort-key.
func (u uefiScheme) Bless(bfs BootFS, running layout.Slot) error {
	if err := demoteOthers(bfs, running); err != nil {
		return err
	}
	es, err := ReadEntries(bfs)
	if err != nil {
		return err
	}
	e, ok := entryOf(es, running)
	if !ok {
		return fmt.Errorf("no boot entry for the running slot %s", running)
	}
	p := entriesDir + "/" + e.File
	if !e.Preferred {
		data, err := bfs.ReadFile(p)
		if err != nil {
			return err
		}
		text := strings.TrimRight(string(data), "\n") + "\n" + sortKeyLine + "\n"
		if err := bfs.WriteFile(p, []byte(text)); err != nil {
			return err
		}
	}
	if e.Name.Counted {
		blessed := EntryName{Slot: running}
		if err := bfs.Rename(p, entriesDir+"/"+blessed.String()); err != nil {
			return fmt.Errorf("blessing %s: %w", e.File, err)
		}
	}
	return nil
}

// Reject gives up on the running trial slot at once: its entry is renamed
// to +0 so the next boot starts the other slot. A failed health check is
// not worth the remaining tries: it would fail the same way.
func (u uefiScheme) Reject(bfs BootFS, running layout.Slot) error {
	es, err := ReadEntries(bfs)
	if err != nil {
		return err
	}
	e, ok := entryOf(es, running)
	if !ok || !e.Name.Counted {
		return fmt.Errorf("the running slot %s is not on trial", running)
	}
	bad := EntryName{Slot: running, Counted: true, Left: 0, Done: e.Name.Done + e.Name.Left}
	if bad.Done == 0 {
		bad.Done = 1
	}
	if bad == e.Name {
		return nil // already out of tries
	}
	return bfs.Rename(entriesDir+"/"+e.File, entriesDir+"/"+bad.String())
}

// RebootArgument is empty: systemd-boot decides from the entries.
func (u uefiScheme) RebootArgument() string { return "" }

// Assessment is what the boot partition says about the current boot.
type Assessment struct {
	Running        layout.Slot
	RunningVersion string
	Trial          bool // the running slot is being tried and not blessed
	TriesLeft      int
	Next           layout.Slot // what the boot loader starts next
	OtherPresent   bool
	OtherVersion   string
	OtherBad       bool // the other slot's tries ran out
	OtherTrial     bool // the other slot is armed and not yet tried to the end
}
