package update

import (
	"strings"
	"testing"

	"github.com/rackwall/rackwall/image/layout"
)

// FuzzParseEntryName: loader entry names come from a FAT file system the
// boot loader (and anyone with the disk) writes.
func FuzzParseEntryName(f *testing.F) {
	f.Add("rackwall-b+2-1.conf")
	f.Fuzz(func(t *testing.T, name string) {
		e, ok := ParseEntryName(name)
		if !ok {
			return
		}
		if e.Slot != layout.SlotA && e.Slot != layout.SlotB {
			t.Fatalf("%q: slot %q", name, e.Slot)
		}
		if e.Left < 0 || e.Done < 0 || e.Left > maxTries || e.Done > maxTries {
			t.Fatalf("%q: counters %+v", name, e)
		}
		back, ok := ParseEntryName(e.String())
		if !ok || back != e {
			t.Fatalf("%q: %+v renders %q which parses as %+v", name, e, e.String(), back)
		}
	})
}

// FuzzRenderEntry: the boot entry template comes from a bundle.
func FuzzRenderEntry(f *testing.F) {
	b, l := qemuBoard(f)
	tmpl, err := layout.SlotEntryTemplate(b, "2", "")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tmpl)
	f.Fuzz(func(t *testing.T, tmpl string) {
		out, err := RenderEntry(tmpl, b, l, layout.SlotB)
		if err != nil {
			return
		}
		// Whatever passes boots slot B's kernel with slot B's root and
		// nothing a boot loader would read as another instruction.
		if !strings.Contains(out, "linux "+layout.KernelPath(b, layout.SlotB)+"\n") ||
			!strings.Contains(out, l.RootArgument(layout.PartRootB)) ||
			strings.Count(out, "rackwall.slot=") > 0 && !strings.Contains(out, "rackwall.slot=b") {
			t.Fatalf("rendered %q", out)
		}
		for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
			k, _, _ := strings.Cut(line, " ")
			switch k {
			case "title", "version", "linux", "options":
			default:
				t.Fatalf("line %q", line)
			}
		}
	})
}
