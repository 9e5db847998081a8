package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/tests/lab"
)

// corpusEntry is one capture's expectations (testdata/corpus/expected.json).
type corpusEntry struct {
	File    string `json:"file"`
	Frames  int    `json:"frames"`
	Forward []int  `json:"forward"`
	Drop    []struct {
		Frames []int    `json:"frames"`
		Rule   string   `json:"rule"`
		Reason string   `json:"reason"`
		Also   []string `json:"also"`
	} `json:"drop"`
}

// corpusDir is the repository's testdata/corpus (RACKWALL_CORPUS replays
// another corpus of the same form).
func corpusDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("RACKWALL_CORPUS"); d != "" {
		return d
	}
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "testdata", "corpus")
}

// loadExpectations reads an expectations file: either expected.json's list
// of entries, or an override {"captures": [{file, drop}]} whose drop lists
// replace those of the base entries (forwarded frames stay the base's).
func loadExpectations(t *testing.T, path string, base []corpusEntry) []corpusEntry {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var entries []corpusEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		var override struct {
			Captures []corpusEntry `json:"captures"`
		}
		if oerr := json.Unmarshal(b, &override); oerr != nil || override.Captures == nil {
			t.Fatalf("%s: neither a list of captures (%v) nor {\"captures\": [...]} (%v)", path, err, oerr)
		}
		byFile := map[string]corpusEntry{}
		for _, e := range base {
			byFile[e.File] = e
		}
		for _, o := range override.Captures {
			e, ok := byFile[o.File]
			if !ok {
				t.Fatalf("%s: %s is not in the base expectations", path, o.File)
			}
			e.Drop = o.Drop
			entries = append(entries, e)
		}
	}
	for _, e := range entries {
		seen := map[int]bool{}
		for _, f := range e.Forward {
			seen[f] = true
		}
		for _, d := range e.Drop {
			for _, f := range d.Frames {
				if seen[f] {
					t.Fatalf("%s: %s: frame %d both forwarded and dropped", path, e.File, f)
				}
				seen[f] = true
			}
		}
		if len(seen) != e.Frames {
			t.Fatalf("%s: %s: forward and drop cover %d of %d frames", path, e.File, len(seen), e.Frames)
		}
	}
	return entries
}

// corpusPass is one replay of the whole corpus under one policy.
type corpusPass struct {
	name         string
	config       string // policy file contents; "" runs the shipped defaults
	expectations string // path of the expectations file
}

// TestCorpusReplay replays every capture of testdata/corpus through a fresh
// dataplane (shipped policy, no rules: the filter passes everything) and
// compares what leaves the box, byte for byte and as a multiset, with
// expected.json; drop counters must match the expected rules. The two ends
// of each conversation in a capture are fed into opposite ports (see
// lab.SplitBySide), with the capture's own timing. It runs twice: with the shipped
// defaults, and with min_fragment_bytes: 0 against the fragment package's
// expectations for that policy, so every other rule is seen to catch what
// F6 would otherwise hide.
func TestCorpusReplay(t *testing.T) {
	dir := corpusDir(t)
	if _, err := os.Stat(filepath.Join(dir, "expected.json")); err != nil {
		t.Fatalf("the replay corpus is part of the repository: %v", err)
	}
	if err := lab.Available(); err != nil {
		t.Skip(err.Error())
	}
	lab.RequireTools(t, "tcpdump", "tcpreplay")
	bin := lab.DataplaneBinary(t)
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	passes := []corpusPass{
		{name: "defaults", expectations: filepath.Join(dir, "expected.json")},
		{name: "min_fragment_bytes_0", config: "min_fragment_bytes: 0\n",
			expectations: filepath.Join(root, "dataplane", "frag", "testdata", "corpus-nof6.json")},
	}

	type job struct {
		pass  corpusPass
		entry corpusEntry
		errs  []string
		logs  []string
	}
	var jobs []*job
	base := loadExpectations(t, passes[0].expectations, nil)
	for _, p := range passes {
		if _, err := os.Stat(p.expectations); err != nil {
			t.Fatalf("%s pass: %v", p.name, err)
		}
		for _, e := range loadExpectations(t, p.expectations, base) {
			// RACKWALL_CORPUS_ONLY=substring narrows the run while debugging.
			if only := os.Getenv("RACKWALL_CORPUS_ONLY"); only != "" && !strings.Contains(e.File, only) {
				continue
			}
			jobs = append(jobs, &job{pass: p, entry: e})
		}
	}
	if len(jobs) == 0 {
		return
	}

	// Every capture gets its own lab and dataplane so held fragments of one
	// never meet the next; labs run side by side to keep the 6 s waits
	// from adding up.
	parallel := 9
	if v, err := strconv.Atoi(os.Getenv("RACKWALL_CORPUS_PARALLEL")); err == nil && v > 0 {
		parallel = v
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	start := time.Now()
	for _, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			j.errs, j.logs = replayCapture(bin, dir, j.pass, j.entry)
		}()
	}
	wg.Wait()
	t.Logf("%d replays in %s (%d at a time)", len(jobs), time.Since(start).Round(time.Second), parallel)

	for _, p := range passes {
		t.Run(p.name, func(t *testing.T) {
			for _, j := range jobs {
				if j.pass.name != p.name {
					continue
				}
				t.Run(strings.TrimSuffix(j.entry.File, ".pcap"), func(t *testing.T) {
					for _, l := range j.logs {
						t.Log(l)
					}
					for _, e := range j.errs {
						t.Error(e)
					}
				})
			}
		})
	}
}

// corpusOnePort replays every frame into the uplink port, as the corpus
// README describes, instead of splitting the two ends of each conversation
// across the two ports (RACKWALL_CORPUS_ONE_PORT=1). With one port the
// filter sees replies arrive from the side their request went to and drops
// them as conn_invalid (FW2), which the expectations do not cover: they
// are about sanitization with an accept-all filter.
var corpusOnePort = os.Getenv("RACKWALL_CORPUS_ONE_PORT") == "1"

// replayCapture runs one capture through a fresh lab and returns what
// went wrong (nothing when the box did exactly what the entry expects).
func replayCapture(bin, dir string, pass corpusPass, e corpusEntry) (errs, logs []string) {
	fail := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	pcap := filepath.Join(dir, e.File)
	sent, err := lab.ReadPcap(pcap)
	if err != nil {
		fail("%v", err)
		return
	}
	if len(sent) != e.Frames {
		fail("%s has %d frames, expectations say %d", e.File, len(sent), e.Frames)
		return
	}
	l, err := lab.Build(lab.Options{Servers: 1})
	if err != nil {
		fail("%v", err)
		return
	}
	defer func() {
		if err := l.Close(); err != nil {
			fail("lab close: %v", err)
		}
	}()
	var args []string
	if pass.config != "" {
		cfg := filepath.Join(l.WorkDir(), "policy.conf")
		if err := os.WriteFile(cfg, []byte(pass.config), 0o644); err != nil {
			fail("%v", err)
			return
		}
		args = append(args, "--config", cfg)
	}
	dp, err := l.StartDataplane(bin, args...)
	if err != nil {
		fail("%v", err)
		return
	}
	before, err := dp.Drops()
	if err != nil {
		fail("%v", err)
		return
	}
	// Frames sent into the uplink port leave at the switch; frames sent
	// into the rack port leave at the client.
	rackSide, err := l.StartCapture(l.SwitchNS, l.SwitchUplink, "")
	if err != nil {
		fail("%v", err)
		return
	}
	uplinkSide, err := l.StartCapture(l.ClientNS, l.ClientIf, "")
	if err != nil {
		fail("%v", err)
		return
	}
	inj, err := lab.NewInjector(lab.Port{NS: l.ClientNS, If: l.ClientIf}, lab.Port{NS: l.SwitchNS, If: l.SwitchUplink})
	if err != nil {
		fail("%v", err)
		return
	}
	defer inj.Close()
	sides := lab.SplitBySide(sent)
	if corpusOnePort {
		sides = make([]int, len(sent))
	}
	// Before the replay turns from one port to the other, wait until the
	// box has read everything sent into the first, so a reply never
	// overtakes its request inside the box.
	boxPorts := []string{l.UplinkPort, l.RackPort}
	m0, err := dp.Metrics()
	if err != nil {
		fail("%v", err)
		return
	}
	settle := func(prev, n int) {
		want := m0.Sum("rackwall_frames_received_total", "port", boxPorts[prev]) + float64(n)
		deadline := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(deadline) {
			m, err := dp.Metrics()
			if err != nil || m.Sum("rackwall_frames_received_total", "port", boxPorts[prev]) >= want {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		time.Sleep(2 * time.Millisecond) // from read to judged
	}
	// Original timing: the captures' gaps decide which datagrams time out.
	if err := inj.Replay(sent, func(i int) int { return sides[i] }, settle); err != nil {
		fail("replay: %v", err)
		return
	}
	// fragment_timeout is 5 s: after 6 s every incomplete datagram is gone.
	time.Sleep(6 * time.Second)
	var pkts []lab.Packet
	for _, c := range []*lab.Capture{rackSide, uplinkSide} {
		got, err := c.Stop()
		if err != nil {
			fail("%v", err)
			return
		}
		pkts = append(pkts, got...)
	}
	after, err := dp.Drops()
	if err != nil {
		fail("%v", err)
		return
	}

	var want [][]byte
	for _, f := range e.Forward {
		want = append(want, sent[f-1].Data)
	}
	got := notFromLab(l, pkts)
	missing, extra := multisetDiff(want, got)
	frameNo := func(b []byte) string {
		var nums []string
		for i, p := range sent {
			if string(p.Data) == string(b) {
				nums = append(nums, strconv.Itoa(i+1))
			}
		}
		if nums == nil {
			return "not in the capture"
		}
		return "frame " + strings.Join(nums, "/")
	}
	for _, m := range missing {
		fail("expected forwarded, did not leave the box: %s (%s)", frameNo(m), hexHead(m))
	}
	for _, x := range extra {
		fail("left the box but expected dropped: %s (%s)", frameNo(x), hexHead(x))
	}
	delta := dropDelta(before, after)
	logs = append(logs, fmt.Sprintf("forwarded %d/%d as expected; drops counted: %v", len(e.Forward)-len(missing), len(e.Forward), delta))
	if err := checkDropCounts(e, delta); err != nil {
		fail("%v", err)
	}
	return errs, logs
}

// checkDropCounts decides whether the counted drops can be the expected
// ones: every dropped frame charged once, to its rule, one of its `also`
// rules, or (for fragments, which may arrive after their datagram died) F8.
// Groups and reasons form a transportation problem; Hall's condition over
// every set of counted reasons decides it.
func checkDropCounts(e corpusEntry, delta map[string]float64) error {
	type group struct {
		n     int
		rules map[string]bool
	}
	var groups []group
	total := 0
	for _, d := range e.Drop {
		g := group{n: len(d.Frames), rules: map[string]bool{d.Rule: true}}
		fragment := strings.HasPrefix(d.Rule, "F")
		for _, a := range d.Also {
			g.rules[a] = true
			fragment = fragment || strings.HasPrefix(a, "F")
		}
		if fragment {
			g.rules["F8"] = true
		}
		groups = append(groups, g)
		total += g.n
	}
	var labels []string
	counted := 0
	for label, v := range delta {
		if v < 0 || v != float64(int(v)) {
			return fmt.Errorf("drop counter %s moved by %v", label, v)
		}
		labels = append(labels, label)
		counted += int(v)
	}
	sort.Strings(labels)
	if counted != total {
		return fmt.Errorf("%d drops counted (%v), %d frames expected dropped (%s)", counted, delta, total, describeDrops(e))
	}
	rule := func(label string) string {
		if r, ok := reason.Parse(label); ok {
			return r.Rule()
		}
		return "?" + label
	}
	for mask := 1; mask < 1<<len(labels); mask++ {
		need, can := 0, 0
		for i, label := range labels {
			if mask&(1<<i) != 0 {
				need += int(delta[label])
			}
		}
		for _, g := range groups {
			for i, label := range labels {
				if mask&(1<<i) != 0 && g.rules[rule(label)] {
					can += g.n
					break
				}
			}
		}
		if need > can {
			var set []string
			for i, label := range labels {
				if mask&(1<<i) != 0 {
					set = append(set, fmt.Sprintf("%s(%s)=%v", label, rule(label), delta[label]))
				}
			}
			return fmt.Errorf("drops counted under %v cannot be the expected drops (%s)", set, describeDrops(e))
		}
	}
	return nil
}

func describeDrops(e corpusEntry) string {
	var parts []string
	for _, d := range e.Drop {
		r := d.Rule
		if len(d.Also) > 0 {
			r += " or " + strings.Join(d.Also, "/")
		}
		parts = append(parts, fmt.Sprintf("%d under %s", len(d.Frames), r))
	}
	if parts == nil {
		return "none"
	}
	return strings.Join(parts, "; ")
}
