package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/layout"
)

// A bundle's floor is taken on when its slot is blessed, survives a
// restart, and then refuses an older bundle even as a downgrade with the
// password, with 422 and before anything is written.
func TestFloorTakenOnAtBlessAndEnforced(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	keys := []ed25519.PublicKey{pub}
	a := fb.agent(keys, 1)
	if _, err := a.Install(context.Background(), bytes.NewReader(makeBundle(t, priv, testBundle{version: 5, minVersion: 4})), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	fb.waitReboot()
	if a.Floor() != 0 {
		t.Fatalf("floor %d taken on while only armed", a.Floor())
	}
	if slot, _ := fb.powerOn(); slot != layout.SlotB {
		t.Fatal("no trial")
	}
	rep, err := fb.agent(keys, 5).AfterBoot(context.Background(), healthy, time.Second)
	if err != nil || !rep.Blessed {
		t.Fatalf("trial: %+v %v", rep, err)
	}
	// A fresh agent (the next boot) reads the floor from /perm.
	a = fb.agent(keys, 5)
	if a.Floor() != 4 || a.Status().Floor != 4 {
		t.Fatalf("floor after bless and restart: %d (status %d)", a.Floor(), a.Status().Floor)
	}
	slotBefore := fileHash(t, fb.slotPath(layout.SlotA))
	bootBefore := dirHash(t, filepath.Join(fb.dir, "boot"))
	code, out := postWithPassword(t, a.Handler(), "/api/update?allow_downgrade=1", makeBundle(t, priv, testBundle{version: 3}), "")
	if code != http.StatusUnprocessableEntity || out["refused"] != true || !strings.Contains(out["error"].(string), "minimum version 4") {
		t.Fatalf("downgrade below the floor: %d %v", code, out)
	}
	if fileHash(t, fb.slotPath(layout.SlotA)) != slotBefore || dirHash(t, filepath.Join(fb.dir, "boot")) != bootBefore {
		t.Fatal("a bundle below the floor changed the box")
	}
	fb.noReboot()
	// At the floor, a downgrade with the password is still possible.
	code, out = postWithPassword(t, a.Handler(), "/api/update?allow_downgrade=1", makeBundle(t, priv, testBundle{version: 4}), "")
	if code != http.StatusAccepted {
		t.Fatalf("downgrade to the floor: %d %v", code, out)
	}
	fb.waitReboot()
}

// A release that never passed its trial sets no floor: the box it fell
// back to may still take a version below that release's floor.
func TestFloorNotTakenFromAFailedTrial(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	keys := []ed25519.PublicKey{pub}
	a := fb.agent(keys, 1)
	if _, err := a.Install(context.Background(), bytes.NewReader(makeBundle(t, priv, testBundle{version: 5, minVersion: 5})), InstallOptions{}); err != nil {
		t.Fatal(err)
	}
	fb.waitReboot()
	fb.powerOn()
	sick := func(context.Context) error { return errors.New("dataplane down") }
	if rep, err := fb.agent(keys, 5).AfterBoot(context.Background(), sick, 20*time.Millisecond); err != nil || !rep.Reboot {
		t.Fatalf("failed trial: %+v %v", rep, err)
	}
	fb.waitReboot()
	if slot, _ := fb.powerOn(); slot != layout.SlotA {
		t.Fatal("no fallback")
	}
	a = fb.agent(keys, 1)
	if _, err := a.AfterBoot(context.Background(), healthy, time.Second); err != nil {
		t.Fatal(err)
	}
	if a.Floor() != 0 {
		t.Fatalf("a failed trial set floor %d", a.Floor())
	}
	if _, err := a.Install(context.Background(), bytes.NewReader(makeBundle(t, priv, testBundle{version: 2})), InstallOptions{NoReboot: true}); err != nil {
		t.Fatalf("version 2 after the failed trial of 5: %v", err)
	}
}

// A damaged floor file fails closed at the running version instead of
// opening the box to any downgrade.
func TestFloorUnreadableFailsClosed(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	perm := filepath.Join(fb.dir, "perm")
	mustNo(t, os.MkdirAll(perm, 0o700))
	mustNo(t, os.WriteFile(filepath.Join(perm, "version-floor.json"), []byte("{garbage"), 0o600))
	a := fb.agent([]ed25519.PublicKey{pub}, 6)
	if a.Floor() != 6 {
		t.Fatalf("floor %d from a damaged file, want the running version 6", a.Floor())
	}
	code, out := postWithPassword(t, a.Handler(), "/api/update?allow_downgrade=1", makeBundle(t, priv, testBundle{version: 5}), "")
	if code != http.StatusUnprocessableEntity || !strings.Contains(out["error"].(string), "minimum version 6") {
		t.Fatalf("downgrade with a damaged floor: %d %v", code, out)
	}
}
