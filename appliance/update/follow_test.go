package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/image/channel"
	"github.com/rackwall/rackwall/image/layout"
)

// channelServer serves an update channel over TLS: files by path, and the
// time of every request for the index.
type channelServer struct {
	srv *httptest.Server
	mu  sync.Mutex
	// files by URL path
	files map[string][]byte
	hits  []time.Time // requests for /stable.index
}

func newChannelServer(t *testing.T) *channelServer {
	cs := &channelServer{files: map[string][]byte{}}
	cs.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cs.mu.Lock()
		b, ok := cs.files[r.URL.Path]
		if r.URL.Path == "/stable.index" {
			cs.hits = append(cs.hits, time.Now())
		}
		cs.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(cs.srv.Close)
	return cs
}

func (cs *channelServer) put(path string, b []byte) {
	cs.mu.Lock()
	cs.files[path] = b
	cs.mu.Unlock()
}

func (cs *channelServer) url(path string) string { return cs.srv.URL + path }

// entryFor describes bundle b served at path.
func (cs *channelServer) entryFor(path string, b []byte, version int64) channel.Entry {
	sum := sha256.Sum256(b)
	cs.put(path, b)
	return channel.Entry{Board: "qemu-amd64", Version: version, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]), URL: cs.url(path)}
}

func (cs *channelServer) publish(t *testing.T, key ed25519.PrivateKey, seq int64, entries ...channel.Entry) {
	t.Helper()
	data, err := channel.Sign(channel.Index{Format: channel.FormatVersion, Channel: "stable", Sequence: seq,
		Issued: time.Unix(1700000000, 0).UTC(), Entries: entries}, key)
	mustNo(t, err)
	cs.put("/stable.index", data)
}

// newChannelListing serves a channel whose index (sequence 1, signed by
// priv) lists one bundle, of version, at /b.
func newChannelListing(t *testing.T, priv ed25519.PrivateKey, version int64) *channelServer {
	t.Helper()
	cs := newChannelServer(t)
	cs.publish(t, priv, 1, cs.entryFor("/b", makeBundle(t, priv, testBundle{version: version}), version))
	return cs
}

// followerAgent is an agent of fb trusting pub and running version that
// can download from cs; it is not blessed yet and follows no channel.
func (fb *fakeBox) followerAgent(cs *channelServer, pub ed25519.PublicKey, version int64) *Agent {
	fb.t.Helper()
	c := fb.agentConfig([]ed25519.PublicKey{pub}, version)
	c.Fetcher = &Fetcher{AllowLoopback: true, RootCAs: tlsRoots(cs.srv)}
	return fb.newAgent(c)
}

// channelAgent is a blessed agent of fb running version, following cs.
func channelAgent(t *testing.T, fb *fakeBox, cs *channelServer, pub ed25519.PublicKey, version int64, notify bool) *Agent {
	t.Helper()
	a := fb.followerAgent(cs, pub, version)
	_, err := a.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	a.SetChannel(ChannelSettings{URL: cs.url("/stable.index"), Interval: time.Hour, NotifyOnly: notify})
	return a
}

// A newer version on the channel is installed and armed like a pushed
// update, trial-booted and blessed; the check and the status say so.
func TestChannelInstallsNewerVersion(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	cs := newChannelServer(t)
	root := bytes.Repeat([]byte("channel!"), 40000)
	b := makeBundle(t, priv, testBundle{version: 6, root: root})
	cs.publish(t, priv, 1, cs.entryFor("/qemu-amd64-6.bundle", b, 6))
	a := channelAgent(t, fb, cs, pub, 5, false)
	var reported []ChannelCheck
	a.OnChannelCheck(func(c ChannelCheck) { reported = append(reported, c) })

	chk := a.CheckChannel(context.Background())
	if chk.Outcome != ChannelInstalled || chk.Version != 6 || chk.Sequence != 1 {
		t.Fatalf("check %+v", chk)
	}
	fb.waitReboot()
	if len(reported) != 1 || reported[0].Outcome != ChannelInstalled {
		t.Fatalf("reported %+v", reported)
	}
	slotB, _ := os.ReadFile(fb.slotPath(layout.SlotB))
	if !bytes.Equal(slotB[:len(root)], root) {
		t.Fatal("slot b does not hold the channel's root")
	}
	if st := a.Status(); st.Last == nil || st.Last.Result != ResultTrying || st.Channel == nil || st.Channel.Outcome != ChannelInstalled {
		t.Fatalf("status %+v", st)
	}
	if slot, v := fb.powerOn(); slot != layout.SlotB || v != 6 {
		t.Fatalf("boots %s v%d", slot, v)
	}
	a2 := channelAgent(t, fb, cs, pub, 6, false)
	if st := a2.Status(); !st.Blessed || st.Last.Result != ResultSuccess {
		t.Fatalf("after the trial: %+v", st)
	}
	// The same index again: up to date, and nothing is written.
	if chk := a2.CheckChannel(context.Background()); chk.Outcome != ChannelUpToDate {
		t.Fatalf("second check %+v", chk)
	}
	fb.noReboot()
}

// Every reason not to install is reported with its reason, and nothing is
// written: the spare slot, the boot partition and the spool stay as they
// were, and the box does not reboot.
func TestChannelRefusesAndWritesNothing(t *testing.T) {
	pub, priv := keys(t)
	_, otherKey := keys(t)
	zero := 0
	type setup struct {
		fb *fakeBox
		cs *channelServer
		b  []byte // a good version 6 bundle, served at /b
	}
	cases := []struct {
		name    string
		prepare func(t *testing.T, s setup) // publishes the index, may seed the box's state
		notify  bool
		outcome string
		want    string
	}{
		{"tampered index", func(t *testing.T, s setup) {
			s.cs.publish(t, priv, 1, s.cs.entryFor("/b", s.b, 6))
			s.cs.mu.Lock()
			idx := s.cs.files["/stable.index"]
			idx[len(idx)-3] ^= 1
			s.cs.mu.Unlock()
		}, false, ChannelRefused, "bad signature"},
		{"untrusted signer", func(t *testing.T, s setup) {
			s.cs.publish(t, otherKey, 1, s.cs.entryFor("/b", s.b, 6))
		}, false, ChannelRefused, "bad signature"},
		{"wrong board", func(t *testing.T, s setup) {
			e := s.cs.entryFor("/b", s.b, 6)
			e.Board = "rpi4"
			s.cs.publish(t, priv, 1, e)
		}, false, ChannelRefused, "lists no bundle for this box's board qemu-amd64"},
		{"lower version", func(t *testing.T, s setup) {
			s.cs.publish(t, priv, 1, s.cs.entryFor("/b", makeBundle(t, priv, testBundle{version: 4}), 4))
		}, false, ChannelRefused, "older than the running version 5"},
		{"below floor", func(t *testing.T, s setup) {
			mustNo(t, os.MkdirAll(filepath.Join(s.fb.dir, "perm"), 0o700))
			mustNo(t, os.WriteFile(filepath.Join(s.fb.dir, "perm", "version-floor.json"), []byte(`{"min_version":5,"set_by_version":5}`), 0o600))
			s.cs.publish(t, priv, 1, s.cs.entryFor("/b", makeBundle(t, priv, testBundle{version: 3}), 3))
		}, false, ChannelRefused, "below this box's minimum version 5"},
		{"outside rollout", func(t *testing.T, s setup) {
			e := s.cs.entryFor("/b", s.b, 6)
			e.RolloutPercent = &zero
			s.cs.publish(t, priv, 1, e)
		}, false, ChannelRefused, "outside the 0 % rollout of version 6"},
		{"fell back from", func(t *testing.T, s setup) {
			mustNo(t, os.MkdirAll(filepath.Join(s.fb.dir, "perm"), 0o700))
			mustNo(t, os.WriteFile(filepath.Join(s.fb.dir, "perm", "fell-back.json"), []byte(`{"versions":[6]}`), 0o600))
			s.cs.publish(t, priv, 1, s.cs.entryFor("/b", s.b, 6))
		}, false, ChannelRefused, "version 6 failed its trial boot on this box before"},
		{"replayed older sequence", func(t *testing.T, s setup) {
			mustNo(t, os.MkdirAll(filepath.Join(s.fb.dir, "perm"), 0o700))
			mustNo(t, os.WriteFile(filepath.Join(s.fb.dir, "perm", "channel.json"), []byte(`{"sequence":10}`), 0o600))
			s.cs.publish(t, priv, 9, s.cs.entryFor("/b", s.b, 6))
		}, false, ChannelRefused, "sequence 9, older than sequence 10"},
		{"download larger than stated", func(t *testing.T, s setup) {
			e := s.cs.entryFor("/b", s.b, 6)
			e.Size--
			s.cs.publish(t, priv, 1, e)
		}, false, ChannelRefused, "larger than the"},
		{"download smaller than stated", func(t *testing.T, s setup) {
			e := s.cs.entryFor("/b", s.b, 6)
			e.Size++
			s.cs.publish(t, priv, 1, e)
		}, false, ChannelRefused, "the channel index states"},
		{"download hash differs", func(t *testing.T, s setup) {
			e := s.cs.entryFor("/b", s.b, 6)
			e.SHA256 = strings.Repeat("0", 64)
			s.cs.publish(t, priv, 1, e)
		}, false, ChannelRefused, "sha256"},
		{"notify mode", func(t *testing.T, s setup) {
			s.cs.publish(t, priv, 1, s.cs.entryFor("/b", s.b, 6))
		}, true, ChannelAvailable, "version 6 is available"},
		{"index missing", func(t *testing.T, s setup) {}, false, ChannelFailed, "404"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := setup{fb: newFakeBox(t), cs: newChannelServer(t), b: makeBundle(t, priv, testBundle{version: 6})}
			c.prepare(t, s)
			a := channelAgent(t, s.fb, s.cs, pub, 5, c.notify)
			slotBefore := fileHash(t, s.fb.slotPath(layout.SlotB))
			bootBefore := dirHash(t, filepath.Join(s.fb.dir, "boot"))
			chk := a.CheckChannel(context.Background())
			if chk.Outcome != c.outcome || !strings.Contains(chk.Reason, c.want) {
				t.Fatalf("check %+v, want %s mentioning %q", chk, c.outcome, c.want)
			}
			if st := a.Status(); st.Channel == nil || st.Channel.Reason != chk.Reason {
				t.Fatalf("status does not show the check: %+v", st.Channel)
			}
			if fileHash(t, s.fb.slotPath(layout.SlotB)) != slotBefore {
				t.Fatal("slot b changed")
			}
			if dirHash(t, filepath.Join(s.fb.dir, "boot")) != bootBefore {
				t.Fatal("the boot partition changed")
			}
			if ents, _ := os.ReadDir(filepath.Join(s.fb.dir, "perm", "spool")); len(ents) != 0 {
				t.Fatalf("spool not cleaned: %v", ents)
			}
			s.fb.noReboot()
		})
	}
}

// A version whose trial failed is remembered by the fallback path and
// never installed again from the channel, across reboots.
func TestChannelNeverRetriesAFallBack(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	cs := newChannelListing(t, priv, 6)
	a := channelAgent(t, fb, cs, pub, 5, false)
	if chk := a.CheckChannel(context.Background()); chk.Outcome != ChannelInstalled {
		t.Fatalf("check %+v", chk)
	}
	fb.waitReboot()
	fb.powerOn()
	a2 := fb.newAgent(fb.agentConfig([]ed25519.PublicKey{pub}, 6))
	sick := func(context.Context) error { return errors.New("dataplane never forwarded") }
	if rep, err := a2.AfterBoot(context.Background(), sick, 50*time.Millisecond); err != nil || !rep.Reboot {
		t.Fatalf("trial: %+v %v", rep, err)
	}
	fb.waitReboot()
	// (The fake box's factory entry names version 1; the agent is told 5.)
	if slot, _ := fb.powerOn(); slot != layout.SlotA {
		t.Fatalf("fallback boots %s", slot)
	}
	a3 := channelAgent(t, fb, cs, pub, 5, false)
	if got := a3.Status().FellBackFrom; len(got) != 1 || got[0] != 6 {
		t.Fatalf("fell back from %v", got)
	}
	slotBefore := fileHash(t, fb.slotPath(layout.SlotB))
	chk := a3.CheckChannel(context.Background())
	if chk.Outcome != ChannelRefused || !strings.Contains(chk.Reason, "never installs it again") {
		t.Fatalf("check after the fallback %+v", chk)
	}
	if fileHash(t, fb.slotPath(layout.SlotB)) != slotBefore {
		t.Fatal("slot b rewritten")
	}
	fb.noReboot()
	// A newer version is installed again.
	cs.publish(t, priv, 2, cs.entryFor("/c", makeBundle(t, priv, testBundle{version: 7}), 7))
	if chk := a3.CheckChannel(context.Background()); chk.Outcome != ChannelInstalled || chk.Version != 7 {
		t.Fatalf("check of version 7 %+v", chk)
	}
	fb.waitReboot()
}

// The device id is made once and kept; the rollout decision follows it.
func TestDeviceIDPersists(t *testing.T) {
	fb := newFakeBox(t)
	pub, _ := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 5)
	id, err := a.DeviceID()
	mustNo(t, err)
	b := fb.agent([]ed25519.PublicKey{pub}, 5)
	id2, err := b.DeviceID()
	mustNo(t, err)
	if id != id2 || !deviceIDPattern.MatchString(id) {
		t.Fatalf("device ids %q, %q", id, id2)
	}
}

// The follower checks on its schedule: never sooner than the interval less
// its jitter, and it keeps checking.
func TestChannelSchedule(t *testing.T) {
	if lo, hi := jittered(time.Hour, 0), jittered(time.Hour, 0.9999); lo != 48*time.Minute || hi >= 72*time.Minute || hi < 71*time.Minute {
		t.Fatalf("jitter range %s to %s", lo, hi)
	}
	fb := newFakeBox(t)
	pub, priv := keys(t)
	cs := newChannelListing(t, priv, 5)
	a := channelAgent(t, fb, cs, pub, 5, false)
	const interval = 150 * time.Millisecond
	a.SetChannel(ChannelSettings{URL: cs.url("/stable.index"), Interval: interval})
	checks := make(chan ChannelCheck, 16)
	a.OnChannelCheck(func(c ChannelCheck) { checks <- c })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.FollowChannel(ctx); close(done) }()
	for i := range 5 {
		select {
		case c := <-checks:
			if c.Outcome != ChannelUpToDate {
				t.Fatalf("check %d: %+v", i, c)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("only %d checks in 5 s", i)
		}
	}
	cancel()
	<-done
	cs.mu.Lock()
	hits := cs.hits
	cs.mu.Unlock()
	for i := 1; i < len(hits); i++ {
		if gap := hits[i].Sub(hits[i-1]); gap < time.Duration(float64(interval)*(1-channelJitter))-5*time.Millisecond {
			t.Errorf("checks %d and %d %s apart, below the interval's jitter", i-1, i, gap)
		}
	}
	// Without a channel the follower does nothing.
	a.SetChannel(ChannelSettings{})
	ctx, cancel = context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	a.FollowChannel(ctx)
	select {
	case c := <-checks:
		t.Fatalf("checked without a channel: %+v", c)
	default:
	}
}

// The API checks on demand and says when no channel is set.
func TestChannelCheckAPI(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	cs := newChannelListing(t, priv, 5)
	a := channelAgent(t, fb, cs, pub, 5, false)
	code, out := post(t, a.Handler(), "/api/update/channel/check", nil, "")
	if code != http.StatusOK || out["outcome"] != ChannelUpToDate {
		t.Fatalf("check: %d %v", code, out)
	}
	a.SetChannel(ChannelSettings{})
	if code, out := post(t, a.Handler(), "/api/update/channel/check", nil, ""); code != http.StatusConflict {
		t.Fatalf("check without a channel: %d %v", code, out)
	}
}

// A version whose kernel never got the health check to run (the boot
// loader used up its tries) is remembered as fallen back from too; an
// interrupted write, which never booted, is not.
func TestFellBackAfterTriesExhausted(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	a := fb.agent([]ed25519.PublicKey{pub}, 1)
	fb.installAndReboot(a, priv, 2)
	for range DefaultTries {
		fb.powerOn()
	}
	if slot, _ := fb.powerOn(); slot != layout.SlotA {
		t.Fatal("no fallback")
	}
	a2 := fb.agent([]ed25519.PublicKey{pub}, 1)
	_, err := a2.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	if got := fb.agent([]ed25519.PublicKey{pub}, 1).FellBackFrom(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("fell back from %v after the tries ran out", got)
	}
}

// Until the after-boot check has blessed the running slot, the follower
// does not check: an install would overwrite the slot to fall back to.
func TestChannelNotCheckedBeforeBlessed(t *testing.T) {
	fb := newFakeBox(t)
	pub, priv := keys(t)
	cs := newChannelListing(t, priv, 6)
	a := fb.followerAgent(cs, pub, 5)
	a.SetChannel(ChannelSettings{URL: cs.url("/stable.index"), Interval: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	a.FollowChannel(ctx)
	cs.mu.Lock()
	n := len(cs.hits)
	cs.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d checks before the slot was blessed", n)
	}
	// Once blessed, it checks (and installs).
	_, err := a.AfterBoot(context.Background(), healthy, time.Second)
	mustNo(t, err)
	ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	go a.FollowChannel(ctx)
	fb.waitReboot()
}
