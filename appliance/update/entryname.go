package update

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/rackwall/rackwall/image/layout"
)

// EntryName is a parsed systemd-boot loader entry file name of one of
// rackwall's slots: rackwall-<slot>[+LEFT[-DONE]].conf.
//
// systemd-boot's automatic boot assessment: an entry whose name carries
// "+LEFT" (optionally "-DONE") is on trial. Before booting it, the boot
// loader renames it to +(LEFT-1)-(DONE+1); an entry at +0 is "bad" and sorts
// after every other entry. The running system removes the counter (blesses
// the entry) once it knows it works.
type EntryName struct {
	Slot    layout.Slot
	Counted bool // the name carries a tries counter
	Left    int  // tries left (Counted only)
	Done    int  // tries done (Counted only)
}

// maxTries bounds counters so a name never overflows an int and an absurd
// counter from a damaged FAT is treated as foreign.
const maxTries = 1000

// ParseEntryName parses a file name (not a path). ok is false for every
// name that is not one of rackwall's slot entries; such files are left
// alone.
func ParseEntryName(name string) (EntryName, bool) {
	rest, ok := strings.CutPrefix(name, "rackwall-")
	if !ok {
		return EntryName{}, false
	}
	rest, ok = strings.CutSuffix(rest, ".conf")
	if !ok || rest == "" {
		return EntryName{}, false
	}
	var e EntryName
	switch rest[0] {
	case 'a':
		e.Slot = layout.SlotA
	case 'b':
		e.Slot = layout.SlotB
	default:
		return EntryName{}, false
	}
	rest = rest[1:]
	if rest == "" {
		return e, true
	}
	counter, ok := strings.CutPrefix(rest, "+")
	if !ok {
		return EntryName{}, false
	}
	left, done, hasDone := strings.Cut(counter, "-")
	l, ok := parseCount(left)
	if !ok {
		return EntryName{}, false
	}
	d := 0
	if hasDone {
		if d, ok = parseCount(done); !ok {
			return EntryName{}, false
		}
	}
	e.Counted, e.Left, e.Done = true, l, d
	return e, true
}

// parseCount accepts 1 to 4 decimal digits (systemd-boot writes plain
// decimal numbers) up to maxTries.
func parseCount(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil || n > maxTries {
		return 0, false
	}
	return n, true
}

// String renders the file name; ParseEntryName(e.String()) == e.
func (e EntryName) String() string {
	switch {
	case !e.Counted:
		return fmt.Sprintf("rackwall-%s.conf", e.Slot)
	case e.Done == 0:
		return fmt.Sprintf("rackwall-%s+%d.conf", e.Slot, e.Left)
	default:
		return fmt.Sprintf("rackwall-%s+%d-%d.conf", e.Slot, e.Left, e.Done)
	}
}

// Bad reports an entry whose tries ran out: systemd-boot sorts it last.
func (e EntryName) Bad() bool { return e.Counted && e.Left == 0 }

// Trial reports an entry still being tried (counter present, tries left).
func (e EntryName) Trial() bool { return e.Counted && e.Left > 0 }
