package frag

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// The replay corpus (see its MANIFEST.md), part of the repository.
const corpusDir = "../../testdata/corpus"

type pcapFrame struct {
	data []byte
	ts   time.Time
}

// readPcap reads a classic pcap file (microsecond or nanosecond
// timestamps, either byte order).
func readPcap(path string) ([]pcapFrame, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) < 24 {
		return nil, fmt.Errorf("%s: short pcap header", path)
	}
	var bo binary.ByteOrder
	nano := false
	switch magic := binary.LittleEndian.Uint32(b); magic {
	case 0xa1b2c3d4:
		bo = binary.LittleEndian
	case 0xa1b23c4d:
		bo, nano = binary.LittleEndian, true
	case 0xd4c3b2a1:
		bo = binary.BigEndian
	case 0x4d3cb2a1:
		bo, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%s: not a classic pcap (magic %#x)", path, magic)
	}
	var frames []pcapFrame
	for off := 24; off < len(b); {
		if off+16 > len(b) {
			return nil, fmt.Errorf("%s: truncated record header at %d", path, off)
		}
		sec, frac, n := bo.Uint32(b[off:]), bo.Uint32(b[off+4:]), int(bo.Uint32(b[off+8:]))
		off += 16
		if off+n > len(b) {
			return nil, fmt.Errorf("%s: truncated record at %d", path, off)
		}
		if !nano {
			frac *= 1000
		}
		frames = append(frames, pcapFrame{data: b[off : off+n], ts: time.Unix(int64(sec), int64(frac))})
		off += n
	}
	return frames, nil
}

type expectedDrop struct {
	Frames []int    `json:"frames"`
	Rule   string   `json:"rule"`
	Also   []string `json:"also"`
}

type expectedCapture struct {
	File    string         `json:"file"`
	Frames  int            `json:"frames"`
	Forward []int          `json:"forward"`
	Drop    []expectedDrop `json:"drop"`
}

// replaySink maps released and dropped held frames back to frame numbers.
type replaySink struct {
	released [][]byte
	dropped  []dropped
}

func (s *replaySink) Release(_ uint8, frame []byte) {
	s.released = append(s.released, append([]byte(nil), frame...))
}

func (s *replaySink) Drop(_ uint8, frame []byte, r reason.Reason, _ *packet.Frame) {
	s.dropped = append(s.dropped, dropped{append([]byte(nil), frame...), r})
}

// replay runs one capture through a small pipeline: Decode; fragments go to
// the Reassembler; whole packets (atomic fragments included, F9) get their
// T rules (and the checksum where verify_checksums says so) and are
// forwarded. After the last frame the clock moves 6 s and Expire runs. It
// returns the forwarded frames and the rule each dropped frame number was
// charged to, plus which frames arrived after their datagram had died.
func replay(t *testing.T, pol config.Policy, frames []pcapFrame) (forwarded [][]byte, rules map[int]string) {
	sink := &replaySink{}
	r := New(&pol, sink)
	rules = map[int]string{}
	byBytes := map[string][]int{}
	for i, fr := range frames {
		byBytes[string(fr.data)] = append(byBytes[string(fr.data)], i+1)
	}
	collect := func() {
		forwarded = append(forwarded, sink.released...)
		for _, d := range sink.dropped {
			nums := byBytes[string(d.frame)]
			if len(nums) == 0 {
				t.Fatalf("sink dropped a frame that is not in the capture")
			}
			for _, n := range nums {
				if _, seen := rules[n]; !seen {
					rules[n] = d.reason.Rule()
					break
				}
			}
		}
		sink.released, sink.dropped = nil, nil
	}
	var now time.Time
	for i, fr := range frames {
		now = fr.ts
		n := i + 1
		data := append([]byte(nil), fr.data...)
		f := new(packet.Frame)
		rr := f.Decode(data, &pol)
		switch {
		case rr != reason.None:
		case f.Fragment:
			rr = r.Submit(0, packet.In, f, now, acceptAll)
		default:
			rr = packet.CheckTransport(f, pol.VerifyChecksums == config.VerifyAll)
			if rr == reason.None {
				forwarded = append(forwarded, data)
			}
		}
		if rr != reason.None {
			rules[n] = rr.Rule()
		}
		collect()
	}
	r.Expire(now.Add(6 * time.Second))
	collect()
	if s := r.Stats(); s.BytesHeld != 0 || s.DatagramsHeld != 0 {
		t.Errorf("state left 6 s after the last frame: %+v", s)
	}
	return forwarded, rules
}

func loadCorpus(t *testing.T) []expectedCapture {
	b, err := os.ReadFile(filepath.Join(corpusDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exp []expectedCapture
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	return exp
}

func frameMultiset(frames [][]byte) []string {
	out := make([]string, len(frames))
	for i, f := range frames {
		out[i] = string(f)
	}
	sort.Strings(out)
	return out
}

// checkForwarded compares what left with the capture's forward list, as a
// multiset of frames byte for byte.
func checkForwarded(t *testing.T, frames []pcapFrame, forward []int, got [][]byte) {
	t.Helper()
	var want [][]byte
	for _, n := range forward {
		want = append(want, frames[n-1].data)
	}
	if !slices.Equal(frameMultiset(got), frameMultiset(want)) {
		var gotN []int
		for _, g := range got {
			for i, fr := range frames {
				if string(fr.data) == string(g) {
					gotN = append(gotN, i+1)
					break
				}
			}
		}
		sort.Ints(gotN)
		t.Errorf("forwarded frames %v, want %v", gotN, forward)
	}
}

// Every capture of the shared corpus, under the shipped defaults: the
// forwarded frames are exactly expected.json's, and each drop names the
// expected rule or one of its "also" rules.
func TestReplayCorpus(t *testing.T) {
	for _, c := range loadCorpus(t) {
		t.Run(c.File, func(t *testing.T) {
			frames, err := readPcap(filepath.Join(corpusDir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != c.Frames {
				t.Fatalf("%d frames, expected.json says %d", len(frames), c.Frames)
			}
			pol := config.Default()
			forwarded, rules := replay(t, pol, frames)
			checkForwarded(t, frames, c.Forward, forwarded)
			for _, d := range c.Drop {
				ok := append([]string{d.Rule}, d.Also...)
				for _, n := range d.Frames {
					got, dropped := rules[n]
					if !dropped {
						t.Errorf("frame %d not dropped", n)
					} else if !slices.Contains(ok, got) {
						t.Errorf("frame %d dropped under %s, want one of %v", n, got, ok)
					}
				}
			}
		})
	}
}

// The same corpus with min_fragment_bytes 0: F6 no longer fires and every
// drop must name the rule testdata/corpus-nof6.json gives, exactly.
func TestReplayCorpusWithoutF6(t *testing.T) {
	exp := loadCorpus(t)
	b, err := os.ReadFile("testdata/corpus-nof6.json")
	if err != nil {
		t.Fatal(err)
	}
	var nof6 struct {
		Captures []struct {
			File string `json:"file"`
			Drop []struct {
				Frames []int  `json:"frames"`
				Rule   string `json:"rule"`
			} `json:"drop"`
		} `json:"captures"`
	}
	if err := json.Unmarshal(b, &nof6); err != nil {
		t.Fatal(err)
	}
	if len(nof6.Captures) != len(exp) {
		t.Fatalf("corpus-nof6.json has %d captures, expected.json %d", len(nof6.Captures), len(exp))
	}
	for i, c := range nof6.Captures {
		t.Run(c.File, func(t *testing.T) {
			if exp[i].File != c.File {
				t.Fatalf("capture %d is %s in expected.json", i, exp[i].File)
			}
			frames, err := readPcap(filepath.Join(corpusDir, c.File))
			if err != nil {
				t.Fatal(err)
			}
			pol := config.Default()
			pol.MinFragmentBytesV4, pol.MinFragmentBytesV6 = 0, 0
			forwarded, rules := replay(t, pol, frames)
			checkForwarded(t, frames, exp[i].Forward, forwarded)
			want := map[int]string{}
			for _, d := range c.Drop {
				for _, n := range d.Frames {
					want[n] = d.Rule
				}
			}
			if len(rules) != len(want) {
				t.Errorf("%d frames dropped, want %d", len(rules), len(want))
			}
			for n, rule := range want {
				if rules[n] != rule {
					t.Errorf("frame %d dropped under %q, want %s", n, rules[n], rule)
				}
			}
		})
	}
}
