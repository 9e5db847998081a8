package layout

import (
	"strings"
	"testing"
)

// ParseGUID reads partition GUIDs the box finds at run time (the kernel
// command line's PARTUUID, the block devices' ids): whatever it accepts
// must print back as the same GUID, and nothing may crash it.
func FuzzParseGUID(f *testing.F) {
	f.Add("60c24cc1-f3f9-427a-8199-2a9d41c70001")
	f.Add("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	f.Add("60c24cc1xf3f9-427a-8199-2a9d41c70001")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			return
		}
		if !strings.EqualFold(g.String(), s) {
			t.Fatalf("ParseGUID(%q) prints as %s", s, g)
		}
		if again, err := ParseGUID(g.String()); err != nil || again != g {
			t.Fatalf("%s does not parse back: %v %v", g, again, err)
		}
	})
}
