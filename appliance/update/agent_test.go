package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/layout"
)

// fakeBox is a box made of files: the slots are plain files, the boot
// partition a directory, and a reboot is recorded so the test can "power
// on" again by running the boot loader model over the directory.
type fakeBox struct {
	t       *testing.T
	dir     string
	board   boards.Board
	layout  layout.Disk
	running layout.Slot
	mu      sync.Mutex
	reboots []string
	rebootC chan string
	boots   int
	// busyUnmount makes every unmount fail as if a process still held
	// the boot partition.
	busyUnmount bool
}

func newFakeBox(t *testing.T) *fakeBox {
	b, l := qemuBoard(t)
	fb := &fakeBox{t: t, dir: t.TempDir(), board: b, layout: l, running: layout.SlotA, rebootC: make(chan string, 4)}
	boot := DirFS(filepath.Join(fb.dir, "boot"))
	mustNo(t, boot.WriteFile(layout.KernelPath(b, layout.SlotA), []byte("kernel v1")))
	mustNo(t, boot.WriteFile(layout.LoaderConf, []byte(layout.LoaderConfig())))
	mustNo(t, boot.WriteFile(layout.LoaderEntryPath(layout.SlotA, 0), []byte(layout.LoaderEntry(b, l, layout.SlotA, "1"))))
	for _, s := range []string{"a", "b"} {
		mustNo(t, os.WriteFile(fb.slotPath(layout.Slot(s)), bytes.Repeat([]byte{0}, 1<<20), 0o644))
	}
	return fb
}

func (fb *fakeBox) slotPath(s layout.Slot) string { return filepath.Join(fb.dir, "slot-"+string(s)) }
func (fb *fakeBox) Cmdline() (string, error) {
	return layout.KernelCmdline(fb.board, fb.layout, fb.running), nil
}
func (fb *fakeBox) SlotDevice(s layout.Slot) (string, error) { return fb.slotPath(s), nil }
func (fb *fakeBox) MountBoot() (string, func() error, error) {
	fb.mu.Lock()
	busy := fb.busyUnmount
	fb.mu.Unlock()
	return filepath.Join(fb.dir, "boot"), func() error {
		if busy {
			return syscall.EBUSY
		}
		return nil
	}, nil
}
func (fb *fakeBox) BootID() (string, error) { return fmt.Sprint("boot-", fb.boots), nil }
func (fb *fakeBox) Reboot(arg string) error {
	fb.mu.Lock()
	fb.reboots = append(fb.reboots, arg)
	fb.mu.Unlock()
	fb.rebootC <- arg
	return nil
}

// powerOn runs the boot loader model and returns the slot and the version
// its entry names.
func (fb *fakeBox) powerOn() (layout.Slot, int64) {
	fb.t.Helper()
	boot := DirFS(filepath.Join(fb.dir, "boot"))
	es, err := ReadEntries(boot)
	mustNo(fb.t, err)
	if len(es) == 0 {
		fb.t.Fatal("no boot entries")
	}
	fb.boots++
	e := es[0]
	if e.Name.Trial() {
		next := EntryName{Slot: e.Name.Slot, Counted: true, Left: e.Name.Left - 1, Done: e.Name.Done + 1}
		mustNo(fb.t, boot.Rename(entriesDir+"/"+e.File, entriesDir+"/"+next.String()))
	}
	fb.running = e.Name.Slot
	var v int64
	fmt.Sscan(e.Version, &v)
	return e.Name.Slot, v
}

// agentConfig is what every agent of the fake box is made from: its board,
// the trusted keys and the running version, its state under perm, a reboot
// a millisecond after it is asked for, and no log.
func (fb *fakeBox) agentConfig(keys []ed25519.PublicKey, version int64) Config {
	return Config{Board: fb.board, Keys: keys, RunningVersion: version, StateDir: filepath.Join(fb.dir, "perm"),
		Machine: fb, RebootDelay: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
}

// newAgent is New for the fake box; an error fails the test.
func (fb *fakeBox) newAgent(c Config) *Agent {
	fb.t.Helper()
	a, err := New(c)
	mustNo(fb.t, err)
	return a
}

// agent is an agent of the fake box that takes pushed updates: a
// downgrade needs the admin password.
func (fb *fakeBox) agent(keys []ed25519.PublicKey, version int64) *Agent {
	fb.t.Helper()
	c := fb.agentConfig(keys, version)
	c.PasswordConfirmed, c.PasswordHeader = testPasswordConfirmed, "X-Admin-Password"
	return fb.newAgent(c)
}

// installAndReboot installs through a the version of a bundle signed by
// priv, which arms it for a trial boot, and waits until the box is asked to
// reboot into it.
func (fb *fakeBox) installAndReboot(a *Agent, priv ed25519.PrivateKey, version int64) {
	fb.t.Helper()
	if _, err := a.Install(context.Background(), bytes.NewReader(makeBundle(fb.t, priv, testBundle{version: version})), InstallOptions{}); err != nil {
		fb.t.Fatal(err)
	}
	fb.waitReboot()
}

func (fb *fakeBox) waitReboot() string {
	fb.t.Helper()
	select {
	case arg := <-fb.rebootC:
		return arg
	case <-time.After(5 * time.Second):
		fb.t.Fatal("no reboot")
		return ""
	}
}

func (fb *fakeBox) noReboot() {
	fb.t.Helper()
	select {
	case <-fb.rebootC:
		fb.t.Fatal("unexpected reboot")
	case <-time.After(20 * time.Millisecond):
	}
}

func fileHash(t *testing.T, p string) [32]byte {
	b, err := os.ReadFile(p)
	mustNo(t, err)
	return sha256.Sum256(b)
}

type testBundle struct {
	board      string
	version    int64
	minVersion int64
	kernel     []byte
	root       []byte
	tmpl       string
}

func makeBundle(t *testing.T, key ed25519.PrivateKey, tb testBundle) []byte {
	t.Helper()
	if tb.board == "" {
		tb.board = "qemu-amd64"
	}
	b, _ := boards.Lookup("qemu-amd64")
	if tb.tmpl == "" {
		var err error
		tb.tmpl, err = layout.SlotEntryTemplate(b, fmt.Sprint(tb.version), "")
		mustNo(t, err)
	}
	if tb.kernel == nil {
		tb.kernel = []byte(fmt.Sprintf("kernel v%d", tb.version))
	}
	if tb.root == nil {
		tb.root = make([]byte, 300<<10)
		rand.Read(tb.root)
	}
	src := func(name string, data []byte) bundle.Source {
		return bundle.Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	}
	var buf bytes.Buffer
	mustNo(t, bundle.Write(&buf, bundle.Manifest{Product: bundle.Product, Board: tb.board, Version: tb.version, MinVersion: tb.minVersion, BuildTime: time.Unix(1, 0).UTC()}, key,
		[]bundle.Source{src(bundle.PartKernel, tb.kernel), src(bundle.PartEntry, []byte(tb.tmpl)), src(bundle.PartRoot, tb.root)}))
	return buf.Bytes()
}

// passwordOK marks a test request as having re-entered the admin password,
// as the web UI's guard does for the real agent.
type passwordOK struct{}

func testPasswordConfirmed(ctx context.Context) bool { return ctx.Value(passwordOK{}) != nil }

func post(t *testing.T, h http.Handler, path string, body []byte, contentType string) (int, map[string]any) {
	t.Helper()
	return postCtx(t, context.Background(), h, path, body, contentType)
}

// postWithPassword posts as a request whose admin password was confirmed.
func postWithPassword(t *testing.T, h http.Handler, path string, body []byte, contentType string) (int, map[string]any) {
	t.Helper()
	return postCtx(t, context.WithValue(context.Background(), passwordOK{}, true), h, path, body, contentType)
}

func postCtx(t *testing.T, ctx context.Context, h http.Handler, path string, body []byte, contentType string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func keys(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	mustNo(t, err)
	return pub, priv
}

func healthy(context.Context) error { return nil }

func TestAgentUpdateBlessAndStay(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 1)
	rep, err := a.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if rep.Trial || !rep.Blessed || rep.Running != layout.SlotA {
		t.Fatalf("factory boot report %+v", rep)
	}
	root := bytes.Repeat([]byte("squashfs"), 50000)
	code, out := post(t, a.Handler(), "/api/update", makeBundle(t, priv, testBundle{version: 2, root: root}), "application/octet-stream")
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, out)
	}
	if arg := fb.waitReboot(); arg != "" {
		t.Fatalf("UEFI reboot argument %q", arg)
	}
	slotB, _ := os.ReadFile(fb.slotPath(layout.SlotB))
	if !bytes.Equal(slotB[:len(root)], root) {
		t.Fatal("slot b does not hold the root")
	}
	if st := a.Status(); st.Last == nil || st.Last.Result != ResultTrying || st.Slots[1].Version != "2" {
		t.Fatalf("status after arming: %+v", st)
	}
	if ents, _ := os.ReadDir(filepath.Join(fb.dir, "perm", "spool")); len(ents) != 0 {
		t.Fatalf("spool not cleaned: %v", ents)
	}

	slot, v := fb.powerOn()
	if slot != layout.SlotB || v != 2 {
		t.Fatalf("after update boots %s v%d", slot, v)
	}
	a2 := fb.agent([]ed25519.PublicKey{pub}, 2)
	rep, err = a2.AfterBoot(context.Background(), healthy, 5*time.Second)
	mustNo(t, err)
	if !rep.Trial || !rep.Blessed || rep.Result != ResultSuccess {
		t.Fatalf("trial boot report %+v", rep)
	}
	st := a2.Status()
	if st.Last.Result != ResultSuccess || st.Last.Version != 2 || st.Last.DurationS <= 0 || st.Trial || !st.Blessed {
		t.Fatalf("status after bless: %+v %+v", st, st.Last)
	}
	if st.Slots[0].Version != "1" || st.Slots[1].Version != "2" || !st.Slots[1].Running {
		t.Fatalf("slots: %+v", st.Slots)
	}
	fb.noReboot()
	for i := 0; i < 3; i++ {
		if slot, _ := fb.powerOn(); slot != layout.SlotB {
			t.Fatalf("reboot %d after bless: %s", i, slot)
		}
	}
	if n := testutil.CollectAndCount(a2.Collector()); n < 4 {
		t.Errorf("%d metrics", n)
	}
	if err := testutil.CollectAndCompare(a2.Collector(), strings.NewReader(`
# HELP rackwall_update_trial 1 while the running slot is on trial (not yet blessed).
# TYPE rackwall_update_trial gauge
rackwall_update_trial 0
`), "rackwall_update_trial"); err != nil {
		t.Error(err)
	}
	// The status endpoint.
	rec := httptest.NewRecorder()
	a2.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/update/status", nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"running_slot": "b"`) {
		t.Fatalf("status endpoint: %d %s", rec.Code, rec.Body)
	}
}

// A boot partition that stays busy after use (a child process holding a
// copy of a descriptor) must not leave a trial unjudged: what was written
// was synced before the unmount was tried.
func TestAgentBusyUnmountStillBlesses(t *testing.T) {
	fb := newFakeBox(t)
	fb.busyUnmount = true
	pub, priv := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 1)
	if _, err := a.AfterBoot(context.Background(), healthy, time.Second); err != nil {
		t.Fatalf("factory boot with a busy boot partition: %v", err)
	}
	code, out := post(t, a.Handler(), "/api/update", makeBundle(t, priv, testBundle{version: 2}), "application/octet-stream")
	if code != http.StatusAccepted {
		t.Fatalf("upload: %d %v", code, out)
	}
	fb.waitReboot()
	if slot, v := fb.powerOn(); slot != layout.SlotB || v != 2 {
		t.Fatalf("after update boots %s v%d", slot, v)
	}
	rep, err := fb.agent([]ed25519.PublicKey{pub}, 2).AfterBoot(context.Background(), healthy, 5*time.Second)
	if err != nil || !rep.Blessed {
		t.Fatalf("trial with a busy boot partition: %+v, %v", rep, err)
	}
	for i := 0; i < 3; i++ {
		if slot, _ := fb.powerOn(); slot != layout.SlotB {
			t.Fatalf("reboot %d after bless: %s", i, slot)
		}
	}
}

func TestAgentRefusesBeforeWriting(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	_, otherKey := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 5)
	good := makeBundle(t, priv, testBundle{version: 6})
	corrupt := append([]byte(nil), good...)
	corrupt[len(corrupt)-100] ^= 0xff
	cases := map[string]struct {
		body []byte
		want string
	}{
		"bad signature": {makeBundle(t, otherKey, testBundle{version: 6}), "bad signature"},
		"other board":   {makeBundle(t, priv, testBundle{version: 6, board: "rpi4"}), `board "rpi4"`},
		"truncated":     {good[:len(good)-1000], "truncated"},
		"corrupted":     {corrupt, "corrupted"},
		"downgrade":     {makeBundle(t, priv, testBundle{version: 4}), "not newer"},
		"same version":  {makeBundle(t, priv, testBundle{version: 5}), "not newer"},
		"not a bundle":  {[]byte("hello"), "not a rackwall bundle"},
		"bad template":  {makeBundle(t, priv, testBundle{version: 6, tmpl: "linux {kernel}\noptions {root}\n"}), "{slot}"},
	}
	slotBefore := fileHash(t, fb.slotPath(layout.SlotB))
	bootBefore := dirHash(t, filepath.Join(fb.dir, "boot"))
	for name, c := range cases {
		code, out := post(t, a.Handler(), "/api/update", c.body, "")
		msg, _ := out["error"].(string)
		if code != http.StatusUnprocessableEntity || out["refused"] != true || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %v, want 422 mentioning %q", name, code, out, c.want)
		}
		if st := a.Status(); st.Last == nil || st.Last.Result != ResultRefused {
			t.Errorf("%s: last attempt %+v", name, st.Last)
		}
	}
	if fileHash(t, fb.slotPath(layout.SlotB)) != slotBefore {
		t.Fatal("a refused bundle changed slot b")
	}
	if dirHash(t, filepath.Join(fb.dir, "boot")) != bootBefore {
		t.Fatal("a refused bundle changed the boot partition")
	}
	if ents, _ := os.ReadDir(filepath.Join(fb.dir, "perm", "spool")); len(ents) != 0 {
		t.Fatalf("spool not cleaned: %v", ents)
	}
	fb.noReboot()
	// An explicit downgrade needs the admin password: a token or session
	// alone is answered 403 before the bundle is read, in every form the
	// API takes.
	var form bytes.Buffer
	ct := multipartBundle(t, &form, makeBundle(t, priv, testBundle{version: 4}))
	down := makeBundle(t, priv, testBundle{version: 4})
	for name, try := range map[string]func() (int, map[string]any){
		"query": func() (int, map[string]any) { return post(t, a.Handler(), "/api/update?allow_downgrade=1", down, "") },
		"multipart": func() (int, map[string]any) {
			body, ct := multipartDowngrade(t, down)
			return post(t, a.Handler(), "/api/update", body, ct)
		},
		"fetch": func() (int, map[string]any) {
			return post(t, a.Handler(), "/api/update/fetch", []byte(`{"url":"https://bundles.example/x","allow_downgrade":true}`), "application/json")
		},
	} {
		code, out := try()
		if code != http.StatusForbidden || !strings.Contains(fmt.Sprint(out["error"]), "X-Admin-Password") {
			t.Errorf("downgrade by %s without the password: %d %v", name, code, out)
		}
	}
	if _, err := a.InstallGuarded(context.Background(), bytes.NewReader(down), InstallOptions{AllowDowngrade: true}); err == nil || !strings.Contains(err.Error(), "admin password") {
		t.Errorf("downgrade through InstallGuarded without the password: %v", err)
	}
	if fileHash(t, fb.slotPath(layout.SlotB)) != slotBefore || dirHash(t, filepath.Join(fb.dir, "boot")) != bootBefore {
		t.Fatal("a downgrade without the password changed the box")
	}
	fb.noReboot()
	code, out := postWithPassword(t, a.Handler(), "/api/update?allow_downgrade=1", form.Bytes(), ct)
	if code != http.StatusAccepted {
		t.Fatalf("allowed downgrade: %d %v", code, out)
	}
	fb.waitReboot()
}

func TestAgentHealthFailFallsBack(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 1)
	fb.installAndReboot(a, priv, 2)
	if slot, _ := fb.powerOn(); slot != layout.SlotB {
		t.Fatal("no trial")
	}
	a2 := fb.agent([]ed25519.PublicKey{pub}, 2)
	// The agent refuses another update while on trial.
	// Another update while on trial would overwrite the fallback: refused,
	// even before AfterBoot has judged this boot.
	if _, err := a2.Install(context.Background(), bytes.NewReader(makeBundle(t, priv, testBundle{version: 3})), InstallOptions{}); err == nil || !strings.Contains(err.Error(), "trial") {
		t.Fatalf("install during a trial: %v", err)
	}
	sick := func(context.Context) error { return errors.New("dataplane: starting (rackwall-dataplane not found)") }
	rep, err := a2.AfterBoot(context.Background(), sick, 50*time.Millisecond)
	mustNo(t, err)
	if !rep.Reboot || rep.Result != ResultFailed || !strings.Contains(rep.Reason, "rackwall-dataplane not found") {
		t.Fatalf("report %+v", rep)
	}
	fb.waitReboot()
	if slot, v := fb.powerOn(); slot != layout.SlotA || v != 1 {
		t.Fatalf("after failed health check boots %s v%d", slot, v)
	}
	a3 := fb.agent([]ed25519.PublicKey{pub}, 1)
	rep, err = a3.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if rep.Trial || rep.Result != ResultFailed || !strings.Contains(rep.Reason, "health check") {
		t.Fatalf("fallback report %+v", rep)
	}
	st := a3.Status()
	if st.Last.Result != ResultFailed || st.Slots[1].Version != "" {
		t.Fatalf("status %+v %+v", st, st.Slots)
	}
	if names, _ := DirFS(filepath.Join(fb.dir, "boot")).ReadDir(entriesDir); strings.Join(names, ",") != "rackwall-a.conf" {
		t.Fatalf("failed entry not cleaned: %v", names)
	}
	fb.noReboot()
	// A retry works.
	fb.installAndReboot(a3, priv, 2)
	if slot, _ := fb.powerOn(); slot != layout.SlotB {
		t.Fatal("retry does not boot b")
	}
}

func TestAgentTriesExhausted(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 1)
	fb.installAndReboot(a, priv, 2)
	// The kernel panics three times: no agent runs.
	for i := 0; i < DefaultTries; i++ {
		if slot, _ := fb.powerOn(); slot != layout.SlotB {
			t.Fatalf("try %d: %s", i, slot)
		}
	}
	if slot, _ := fb.powerOn(); slot != layout.SlotA {
		t.Fatal("no fallback")
	}
	a2 := fb.agent([]ed25519.PublicKey{pub}, 1)
	rep, err := a2.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if rep.Result != ResultFailed || !strings.Contains(rep.Reason, "never passed its trial boot") {
		t.Fatalf("report %+v", rep)
	}
}

func TestAgentInterruptedWriteThenRetry(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 1)
	// Power is cut while the root streams into slot b: the record says
	// "installing", the target was disarmed, the slot is half written.
	mustNo(t, saveRecord(a.recordPath(), record{Last: &Attempt{Result: ResultInstalling, Slot: "b", Version: 2, From: 1, Started: time.Now()}}))
	mustNo(t, os.WriteFile(fb.slotPath(layout.SlotB), []byte("half a squashfs"), 0o644))
	if slot, _ := fb.powerOn(); slot != layout.SlotA {
		t.Fatal("interrupted write does not boot a")
	}
	a2 := fb.agent([]ed25519.PublicKey{pub}, 1)
	rep, err := a2.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if rep.Result != ResultFailed || !strings.Contains(rep.Reason, "interrupted") {
		t.Fatalf("report %+v", rep)
	}
	if _, err := a2.Install(context.Background(), bytes.NewReader(makeBundle(t, priv, testBundle{version: 2})), InstallOptions{NoReboot: true}); err != nil {
		t.Fatal(err)
	}
	fb.noReboot()
	if slot, v := fb.powerOn(); slot != layout.SlotB || v != 2 {
		t.Fatalf("retry boots %s v%d", slot, v)
	}
}

func dirHash(t *testing.T, dir string) [32]byte {
	h := sha256.New()
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		fmt.Fprintln(h, p)
		if !info.IsDir() {
			b, _ := os.ReadFile(p)
			h.Write(b)
		}
		return nil
	})
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}
