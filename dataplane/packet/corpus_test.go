package packet

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// The replay corpus: real captures with the expected verdict of every frame
// (see its MANIFEST.md).
const corpusDir = "../../testdata/corpus"

type corpusEntry struct {
	File    string `json:"file"`
	SHA256  string `json:"sha256"`
	Frames  int    `json:"frames"`
	Forward []int  `json:"forward"`
	Drop    []struct {
		Frames []int    `json:"frames"`
		Rule   string   `json:"rule"`
		Reason string   `json:"reason"`
		Also   []string `json:"also"`
	} `json:"drop"`
}

func loadCorpus(t testing.TB) []corpusEntry {
	t.Helper()
	// The corpus is part of the repository: a missing file is a broken
	// checkout, not a reason to skip.
	raw, err := os.ReadFile(filepath.Join(corpusDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var entries []corpusEntry
	if err := json.Unmarshal(raw, &entries); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	return entries
}

func readPcap(t testing.TB, name string) [][]byte {
	t.Helper()
	fh, err := os.Open(filepath.Join(corpusDir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r, err := pcapgo.NewReader(fh)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var frames [][]byte
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return frames
		}
		if err != nil {
			t.Fatalf("%s frame %d: %v", name, len(frames)+1, err)
		}
		frames = append(frames, data)
	}
}

// The corpus is kept byte for byte as it was taken (its README gives the
// source of every capture); expected.json records each file's SHA-256, and
// the captures' frame counts are what the expectations number.
func TestCorpusFilesAreTheRecordedOnes(t *testing.T) {
	entries := loadCorpus(t)
	if len(entries) == 0 {
		t.Fatal("expected.json lists no captures")
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(corpusDir, e.File))
		if err != nil {
			t.Error(err)
			continue
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(b)); got != e.SHA256 {
			t.Errorf("%s: sha256 %s, expected.json says %s", e.File, got, e.SHA256)
		}
		if n := len(readPcap(t, e.File)); n != e.Frames {
			t.Errorf("%s: %d frames, expected.json says %d", e.File, n, e.Frames)
		}
	}
}

// TestCorpusReplay decodes every frame of every capture and holds Decode
// and CheckTransport to the rules expected.json charges to a single frame:
// H rules to Decode, T rules to CheckTransport. Frames dropped under a
// fragment rule must decode cleanly (the reassembler judges them), and
// forwarded whole packets must pass CheckTransport with checksums verified.
func TestCorpusReplay(t *testing.T) {
	entries := loadCorpus(t)
	p := defaultPolicy()
	var f Frame
	checked := map[string]int{}
	for _, e := range entries {
		t.Run(strings.SplitN(e.File, "__", 2)[0], func(t *testing.T) {
			frames := readPcap(t, e.File)
			if len(frames) != e.Frames {
				t.Fatalf("%d frames, expected.json says %d", len(frames), e.Frames)
			}
			rule := map[int]string{}
			want := map[int]reason.Reason{}
			breaksF5 := map[int]bool{}
			for _, d := range e.Drop {
				for _, n := range d.Frames {
					breaksF5[n] = d.Rule == "F5" || slices.Contains(d.Also, "F5")
				}
				r, ok := reason.Parse(d.Reason)
				if !ok {
					t.Fatalf("unknown reason %q", d.Reason)
				}
				for _, n := range d.Frames {
					rule[n], want[n] = d.Rule, r
				}
			}
			for i, data := range frames {
				n := i + 1
				got := f.Decode(data, p)
				checkInvariants(t, &f, got)
				tr := CheckTransport(&f, true)
				if got == reason.None && f.Fragment && f.FragOffset == 0 {
					// F5 is the reassembler's, but it reads ChainComplete.
					if f.ChainComplete == breaksF5[n] {
						t.Errorf("first fragment %d: ChainComplete = %v, F5 listed = %v", n, f.ChainComplete, breaksF5[n])
					}
					checked["first fragments"]++
				}
				switch r := rule[n]; {
				case r == "":
					// Forwarded.
					if got != reason.None {
						t.Errorf("frame %d forwarded by the corpus, Decode = %v", n, got)
					}
					if tr != reason.None {
						t.Errorf("frame %d forwarded by the corpus, CheckTransport = %v", n, tr)
					}
					checked["forward"]++
				case r[0] == 'H' || r[0] == 'L':
					if got != want[n] {
						t.Errorf("frame %d: Decode = %v, expected.json says %v (%s)", n, got, want[n], r)
					}
					checked[r]++
				case r[0] == 'T':
					if got != reason.None {
						t.Errorf("frame %d: Decode = %v, want none before %s", n, got, r)
					}
					if tr != want[n] {
						t.Errorf("frame %d: CheckTransport = %v, expected.json says %v (%s)", n, tr, want[n], r)
					}
					checked[r]++
				case r[0] == 'F':
					if got != reason.None {
						t.Errorf("frame %d dropped under %s by the reassembler, Decode = %v", n, r, got)
					}
					checked[r]++
				}
			}
		})
	}
	t.Logf("frames checked by rule: %v", checked)
}
