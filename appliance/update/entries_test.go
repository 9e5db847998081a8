package update

import (
	"strings"
	"testing"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/layout"
)

func qemuBoard(t testing.TB) (boards.Board, layout.Disk) {
	t.Helper()
	b, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	l, err := layout.New(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, l
}

// factoryUEFI is the boot partition as the image builder writes it:
// slot A only, its entry without a counter or sort-key.
func factoryUEFI(t testing.TB) (*memFS, boards.Board, layout.Disk) {
	b, l := qemuBoard(t)
	m := newMemFS()
	m.files[layout.KernelPath(b, layout.SlotA)] = []byte("kernel v1")
	m.files[layout.LoaderConf] = []byte(layout.LoaderConfig())
	m.files[layout.LoaderEntryPath(layout.SlotA, 0)] = []byte(layout.LoaderEntry(b, l, layout.SlotA, "1"))
	return m, b, l
}

func entryFor(t testing.TB, b boards.Board, l layout.Disk, s layout.Slot, version string) string {
	t.Helper()
	tmpl, err := layout.SlotEntryTemplate(b, version, "")
	if err != nil {
		t.Fatal(err)
	}
	e, err := RenderEntry(tmpl, b, l, s)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sdBoot does what systemd-boot does at power-on: pick the first entry of
// its order, count a try down if the entry has a counter, and report the
// slot it starts. It fails the test if the entry's kernel is missing.
func sdBoot(t *testing.T, m *memFS, b boards.Board) layout.Slot {
	t.Helper()
	es, err := ReadEntries(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(es) == 0 {
		t.Fatalf("no boot entry left: the box does not boot; files %v", m.names(entriesDir))
	}
	e := es[0]
	if e.Name.Trial() {
		next := EntryName{Slot: e.Name.Slot, Counted: true, Left: e.Name.Left - 1, Done: e.Name.Done + 1}
		if err := m.Rename(entriesDir+"/"+e.File, entriesDir+"/"+next.String()); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := m.files[layout.KernelPath(b, e.Name.Slot)]; !ok {
		t.Fatalf("boot loader picked slot %s whose kernel is missing", e.Name.Slot)
	}
	return e.Name.Slot
}

func mustNo(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func armUEFI(t *testing.T, m *memFS, b boards.Board, l layout.Disk, s layout.Slot, version string) {
	t.Helper()
	u := uefiScheme{board: b}
	mustNo(t, u.Disarm(m, s))
	mustNo(t, u.Arm(m, s, []byte("kernel v"+version), entryFor(t, b, l, s, version), DefaultTries))
}

func TestUEFIUpdateTrialBlessStays(t *testing.T) {
	m, b, l := factoryUEFI(t)
	u := uefiScheme{board: b}
	if got := sdBoot(t, m, b); got != layout.SlotA {
		t.Fatalf("factory image boots %s", got)
	}
	armUEFI(t, m, b, l, layout.SlotB, "2")
	if _, ok := m.files[entriesDir+"/rackwall-b+3.conf"]; !ok {
		t.Fatalf("armed entry missing: %v", m.names(entriesDir))
	}
	if got := sdBoot(t, m, b); got != layout.SlotB {
		t.Fatalf("after arming the box boots %s, want b", got)
	}
	as, err := u.Assess(m, layout.SlotB)
	mustNo(t, err)
	if !as.Trial || as.TriesLeft != 2 || as.RunningVersion != "2" || as.OtherVersion != "1" {
		t.Fatalf("assessment on trial boot: %+v", as)
	}
	mustNo(t, u.Bless(m, layout.SlotB))
	if got := m.names(entriesDir); strings.Join(got, ",") != "rackwall-a.conf,rackwall-b.conf" {
		t.Fatalf("entries after bless: %v", got)
	}
	for i := 0; i < 5; i++ {
		if got := sdBoot(t, m, b); got != layout.SlotB {
			t.Fatalf("reboot %d after bless boots %s", i, got)
		}
	}
	as, _ = u.Assess(m, layout.SlotB)
	if as.Trial || as.OtherBad {
		t.Fatalf("after bless: %+v", as)
	}
	// And back to A with the next update: A must win although "rackwall-b"
	// sorts before "rackwall-a" by name.
	armUEFI(t, m, b, l, layout.SlotA, "3")
	if got := sdBoot(t, m, b); got != layout.SlotA {
		t.Fatalf("second update boots %s, want a", got)
	}
	mustNo(t, u.Bless(m, layout.SlotA))
	for i := 0; i < 3; i++ {
		if got := sdBoot(t, m, b); got != layout.SlotA {
			t.Fatalf("after second bless boots %s", got)
		}
	}
	if strings.Contains(string(m.files[entriesDir+"/rackwall-b.conf"]), "sort-key") {
		t.Fatal("the old slot's entry still carries the sort-key")
	}
}

func TestUEFIHealthFailRejectsAtOnce(t *testing.T) {
	m, b, l := factoryUEFI(t)
	u := uefiScheme{board: b}
	armUEFI(t, m, b, l, layout.SlotB, "2")
	if sdBoot(t, m, b) != layout.SlotB {
		t.Fatal("trial did not start")
	}
	mustNo(t, u.Reject(m, layout.SlotB))
	if got := sdBoot(t, m, b); got != layout.SlotA {
		t.Fatalf("after a rejected trial the box boots %s", got)
	}
	as, err := u.Assess(m, layout.SlotA)
	mustNo(t, err)
	if as.Trial || !as.OtherBad || as.OtherVersion != "2" {
		t.Fatalf("fallback not detected: %+v", as)
	}
	mustNo(t, u.Disarm(m, layout.SlotB))
	if got := m.names(entriesDir); strings.Join(got, ",") != "rackwall-a.conf" {
		t.Fatalf("cleanup left %v", got)
	}
	if _, ok := m.files[layout.KernelPath(b, layout.SlotB)]; ok {
		t.Fatal("the failed slot's kernel is still there")
	}
	// Rejecting a slot that is not on trial is an error, not a silent no-op.
	if err := u.Reject(m, layout.SlotA); err == nil {
		t.Fatal("Reject of a blessed slot succeeded")
	}
}

func TestUEFITriesExhaustedFallsBack(t *testing.T) {
	m, b, l := factoryUEFI(t)
	u := uefiScheme{board: b}
	armUEFI(t, m, b, l, layout.SlotB, "2")
	for i := 0; i < DefaultTries; i++ {
		if got := sdBoot(t, m, b); got != layout.SlotB {
			t.Fatalf("try %d booted %s", i+1, got)
		}
	}
	if got := sdBoot(t, m, b); got != layout.SlotA {
		t.Fatalf("after %d failed tries the box boots %s, want a", DefaultTries, got)
	}
	if got := m.names(entriesDir); strings.Join(got, ",") != "rackwall-a.conf,rackwall-b+0-3.conf" {
		t.Fatalf("entries: %v", got)
	}
	as, _ := u.Assess(m, layout.SlotA)
	if !as.OtherBad {
		t.Fatalf("tries exhausted not detected: %+v", as)
	}
	// Stays on A.
	if got := sdBoot(t, m, b); got != layout.SlotA {
		t.Fatalf("boots %s", got)
	}
}

// The last try boots with the counter already at +0: it is still a trial,
// and passing its health check still blesses it.
func TestUEFILastTryCanBless(t *testing.T) {
	m, b, l := factoryUEFI(t)
	u := uefiScheme{board: b}
	armUEFI(t, m, b, l, layout.SlotB, "2")
	for i := 0; i < DefaultTries; i++ {
		sdBoot(t, m, b)
	}
	as, err := u.Assess(m, layout.SlotB)
	mustNo(t, err)
	if !as.Trial || as.TriesLeft != 0 {
		t.Fatalf("last try not seen as a trial: %+v", as)
	}
	mustNo(t, u.Bless(m, layout.SlotB))
	if got := sdBoot(t, m, b); got != layout.SlotB {
		t.Fatalf("blessed on the last try, next boot %s", got)
	}
	// Rejecting on the last try leaves it bad.
	m, b, l = factoryUEFI(t)
	armUEFI(t, m, b, l, layout.SlotB, "2")
	for i := 0; i < DefaultTries; i++ {
		sdBoot(t, m, b)
	}
	mustNo(t, u.Reject(m, layout.SlotB))
	if got := sdBoot(t, m, b); got != layout.SlotA {
		t.Fatalf("rejected on the last try, next boot %s", got)
	}
}

func TestUEFIFailedUpdateFromB(t *testing.T) {
	m, b, l := factoryUEFI(t)
	u := uefiScheme{board: b}
	armUEFI(t, m, b, l, layout.SlotB, "2")
	sdBoot(t, m, b)
	mustNo(t, u.Bless(m, layout.SlotB))
	armUEFI(t, m, b, l, layout.SlotA, "3")
	for i := 0; i < DefaultTries; i++ {
		if got := sdBoot(t, m, b); got != layout.SlotA {
			t.Fatalf("try %d booted %s", i+1, got)
		}
	}
	if got := sdBoot(t, m, b); got != layout.SlotB {
		t.Fatalf("fallback from a failed slot A boots %s, want b", got)
	}
}

// TestUEFIPowerCutAnywhere cuts power after every possible number of
// boot-partition steps of an update (disarm, root write, arm: every write,
// rename and removal, with FAT's non-atomic replace; see memFS) and checks
// that the box still has a boot entry, boots a complete slot (the old one,
// or the new one once its entry exists), and that a retry succeeds. It runs
// from either slot, for an upgrade and for a downgrade (where the old
// entry sorts first while both carry the sort-key).
func TestUEFIPowerCutAnywhere(t *testing.T) {
	for _, from := range []layout.Slot{layout.SlotA, layout.SlotB} {
		for _, version := range []string{"9", "1"} {
			powerCutArming(t, from, version)
		}
	}
}

func powerCutArming(t *testing.T, from layout.Slot, version string) {
	for cut := 0; ; cut++ {
		m, b, l := factoryUEFI(t)
		u := uefiScheme{board: b}
		slotRoot := map[layout.Slot]string{layout.SlotA: "v1"}
		if from == layout.SlotB {
			armUEFI(t, m, b, l, layout.SlotB, "2")
			sdBoot(t, m, b)
			mustNo(t, u.Bless(m, layout.SlotB))
			slotRoot[layout.SlotB] = "v2"
		}
		target := Other(from)
		m.changes, m.cutAfter = 0, cut
		completed := func() bool {
			if err := u.Disarm(m, target); err != nil {
				return false
			}
			// The root is written between disarm and arm. A cut that stops
			// arming before its first step may have hit the root write.
			slotRoot[target] = "half"
			before := m.changes
			err := u.Arm(m, target, []byte("kernel v"+version), entryFor(t, b, l, target, version), DefaultTries)
			if m.changes > before {
				slotRoot[target] = "v" + version
			}
			return err == nil
		}()
		m.cutAfter = -1
		got := sdBoot(t, m, b) // fails the test if no entry is left
		if completed {
			if got != target {
				t.Fatalf("from %s to version %s, cut %d: armed update boots %s", from, version, cut, got)
			}
			return
		}
		if slotRoot[got] == "half" || slotRoot[got] == "" {
			t.Fatalf("from %s to version %s, cut after %d steps: boots the incomplete slot %s", from, version, cut, got)
		}
		if got != from && slotRoot[got] != "v"+version {
			t.Fatalf("from %s to version %s, cut after %d steps: boots %s holding %s", from, version, cut, got, slotRoot[got])
		}
		// Power comes back in whichever slot booted. If that is the old one,
		// the update is retried from there.
		if got != from {
			continue
		}
		mustNo(t, u.Disarm(m, target))
		mustNo(t, u.Arm(m, target, []byte("kernel v"+version), entryFor(t, b, l, target, version), DefaultTries))
		if got := sdBoot(t, m, b); got != target {
			t.Fatalf("from %s to version %s, cut %d: retry boots %s", from, version, cut, got)
		}
		mustNo(t, u.Bless(m, target))
		if got := sdBoot(t, m, b); got != target {
			t.Fatalf("from %s to version %s, cut %d: after bless boots %s", from, version, cut, got)
		}
		if cut > 50 {
			t.Fatal("arming never completed")
		}
	}
}

// TestUEFIPowerCutDuringBless: a cut between bless's steps leaves either
// a trial entry (counted on) or a blessed one; both boot the new slot.
func TestUEFIPowerCutDuringBless(t *testing.T) {
	for cut := 0; cut < 10; cut++ {
		m, b, l := factoryUEFI(t)
		u := uefiScheme{board: b}
		armUEFI(t, m, b, l, layout.SlotB, "2")
		sdBoot(t, m, b)
		m.changes, m.cutAfter = 0, cut
		err := u.Bless(m, layout.SlotB)
		m.cutAfter = -1
		if got := sdBoot(t, m, b); got != layout.SlotB {
			t.Fatalf("cut %d during bless: boots %s", cut, got)
		}
		if err == nil {
			break
		}
		mustNo(t, u.Bless(m, layout.SlotB))
	}
}

func TestBootOrder(t *testing.T) {
	b, l := qemuBoard(t)
	e := func(s layout.Slot, sortKey bool, version string) string {
		text := entryFor(t, b, l, s, version)
		if sortKey {
			text += sortKeyLine + "\n"
		}
		return text
	}
	cases := []struct {
		name  string
		files map[string]string
		want  layout.Slot
	}{
		{"factory", map[string]string{"rackwall-a.conf": e("a", false, "1")}, "a"},
		{"no sort-keys: id descending", map[string]string{"rackwall-a.conf": e("a", false, "1"), "rackwall-b.conf": e("b", false, "2")}, "b"},
		{"sort-key wins over id", map[string]string{"rackwall-a.conf": e("a", true, "3"), "rackwall-b.conf": e("b", false, "2")}, "a"},
		{"trial with sort-key first", map[string]string{"rackwall-a+2-1.conf": e("a", true, "3"), "rackwall-b.conf": e("b", false, "2")}, "a"},
		{"bad last despite sort-key", map[string]string{"rackwall-a+0-3.conf": e("a", true, "3"), "rackwall-b.conf": e("b", false, "2")}, "b"},
		{"both sort-keys: higher version", map[string]string{"rackwall-a.conf": e("a", true, "10"), "rackwall-b.conf": e("b", true, "9")}, "a"},
		{"all bad: id descending", map[string]string{"rackwall-a+0-3.conf": e("a", false, "3"), "rackwall-b+0-3.conf": e("b", false, "2")}, "b"},
		{"foreign entries ignored", map[string]string{"other.conf": "title x\n", "rackwall-a.conf": e("a", false, "1")}, "a"},
	}
	for _, c := range cases {
		m := newMemFS()
		for n, text := range c.files {
			m.files[entriesDir+"/"+n] = []byte(text)
		}
		got, ok, err := DefaultSlot(m)
		if err != nil || !ok || got != c.want {
			t.Errorf("%s: default %q %v %v, want %q", c.name, got, ok, err, c.want)
		}
	}
}

func TestEntryNames(t *testing.T) {
	good := map[string]EntryName{
		"rackwall-a.conf":      {Slot: "a"},
		"rackwall-b+3.conf":    {Slot: "b", Counted: true, Left: 3},
		"rackwall-b+2-1.conf":  {Slot: "b", Counted: true, Left: 2, Done: 1},
		"rackwall-a+0-3.conf":  {Slot: "a", Counted: true, Left: 0, Done: 3},
		"rackwall-a+0.conf":    {Slot: "a", Counted: true},
		"rackwall-b+1000.conf": {Slot: "b", Counted: true, Left: 1000},
	}
	for n, want := range good {
		got, ok := ParseEntryName(n)
		if !ok || got != want {
			t.Errorf("%s: %+v %v, want %+v", n, got, ok, want)
		}
		if back, _ := ParseEntryName(got.String()); back != got {
			t.Errorf("%s: round trip %q", n, got.String())
		}
	}
	for _, n := range []string{"", "rackwall-.conf", "rackwall-c.conf", "rackwall-a", "rackwall-a+.conf", "rackwall-a+-1.conf",
		"rackwall-a+1-.conf", "rackwall-a+1001.conf", "rackwall-ab.conf", "rackwall-a+1-2-3.conf", "rackwall-a+x.conf",
		"Rackwall-a.conf", "rackwall-a.conf.tmp", "rackwall-a+99999.conf"} {
		if e, ok := ParseEntryName(n); ok {
			t.Errorf("%q parsed as %+v", n, e)
		}
	}
	if !(EntryName{Counted: true}).Bad() || (EntryName{}).Bad() || !(EntryName{Counted: true, Left: 1}).Trial() {
		t.Error("Bad/Trial wrong")
	}
}

func TestRenderEntry(t *testing.T) {
	b, l := qemuBoard(t)
	tmpl, err := layout.SlotEntryTemplate(b, "7", "")
	mustNo(t, err)
	for _, s := range []layout.Slot{layout.SlotA, layout.SlotB} {
		got, err := RenderEntry(tmpl, b, l, s)
		mustNo(t, err)
		// The rendered entry must equal what the image builder writes for
		// that slot: one source of truth for the command line.
		if want := layout.LoaderEntry(b, l, s, "7"); got != want {
			t.Errorf("slot %s:\n%s\nwant\n%s", s, got, want)
		}
	}
	bad := map[string]string{
		"no root":        strings.Replace(tmpl, layout.TokenRoot, "root=/dev/sda2", 1),
		"two slots":      tmpl + "title {slot}\n",
		"unknown key":    tmpl + "efi /x.efi\n",
		"unknown token":  strings.Replace(tmpl, "ro ", "{evil} ", 1),
		"other kernel":   strings.Replace(tmpl, layout.TokenKernel, "/a/vmlinuz", 1),
		"control byte":   strings.Replace(tmpl, "ro ", "ro\x00", 1),
		"too long":       tmpl + strings.Repeat("#", maxTemplate),
		"duplicate line": tmpl + "options x\n",
	}
	for name, tm := range bad {
		if _, err := RenderEntry(tm, b, l, layout.SlotB); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The extra command line lands last (so init= overrides).
	tmpl2, _ := layout.SlotEntryTemplate(b, "7", "init=/nonexistent")
	got, err := RenderEntry(tmpl2, b, l, layout.SlotB)
	mustNo(t, err)
	if !strings.Contains(got, "rackwall.slot=b init=/nonexistent\n") {
		t.Errorf("extra cmdline not last: %s", got)
	}
}
