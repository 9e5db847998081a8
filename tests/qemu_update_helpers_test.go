package tests

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/layout"
)

// updateKeys is a signing key pair for one test run and the public key
// file text the image trusts.
type updateKeys struct {
	priv   ed25519.PrivateKey
	pubTxt []byte
}

func newUpdateKeys(t *testing.T) updateKeys {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return updateKeys{priv: priv, pubTxt: []byte("rackwall-ed25519-public " + base64.StdEncoding.EncodeToString(pub) + "\n")}
}

// slotParts builds one version's slot parts, as rackwall-bundle does.
func slotParts(t *testing.T, b boards.Board, version int, keys updateKeys, appArgs ...string) image.SlotParts {
	t.Helper()
	root, err := image.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	cfg := image.Config{Board: b, Version: fmt.Sprint(version), SourceDateEpoch: time.Now().Unix(), ModuleRoot: root,
		Programs: imagePrograms(t, b), UpdateKeys: map[string][]byte{"test.pub": keys.pubTxt}}
	for i, p := range cfg.Programs {
		if p.Name == "rackwall" && len(appArgs) > 0 {
			cfg.Programs[i].Args = append(append([]string(nil), p.Args...), appArgs...)
		}
	}
	start := time.Now()
	parts, err := image.BuildSlotParts(cfg, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("slot parts of version %d built in %.1fs (root %d bytes)", version, time.Since(start).Seconds(), len(parts.Root))
	return parts
}

// signBundle signs a kernel, a boot entry template and a root as the
// bundle of board and version.
func signBundle(t *testing.T, key ed25519.PrivateKey, board string, version int64, kernel []byte, tmpl string, root []byte) []byte {
	t.Helper()
	src := func(name string, data []byte) bundle.Source {
		return bundle.Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }}
	}
	var buf bytes.Buffer
	err := bundle.Write(&buf, bundle.Manifest{Product: bundle.Product, Board: board, Version: version, BuildTime: time.Now().UTC().Truncate(time.Second)}, key,
		[]bundle.Source{src(bundle.PartKernel, kernel), src(bundle.PartEntry, []byte(tmpl)), src(bundle.PartRoot, root)})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// writeBundle signs parts as a bundle of board/version into a file.
func writeBundle(t *testing.T, path string, key ed25519.PrivateKey, board string, version int64, kernel []byte, tmpl string, root []byte) string {
	t.Helper()
	if err := os.WriteFile(path, signBundle(t, key, board, version, kernel, tmpl, root), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// buildPushCommand compiles rackwall-update for the host.
func buildPushCommand(t *testing.T, dir string) string {
	t.Helper()
	root, err := image.FindModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "rackwall-update")
	cmd := exec.Command("go", "build", "-o", out, "./appliance/cmd/rackwall-update")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building rackwall-update: %v\n%s", err, b)
	}
	return out
}

// slotHash hashes a partition of the disk image file (qemu's writes reach
// the file through the host page cache, so this is what the guest wrote).
func slotHash(t *testing.T, img string, p layout.Partition) [32]byte {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, p.Offset(), p.Size())); err != nil {
		t.Fatal(err)
	}
	var out [32]byte
	copy(out[:], h.Sum(nil))
	return out
}

// updateStatus is the box's GET /api/update/status.
type updateStatus struct {
	Running        string `json:"running_slot"`
	RunningVersion int64  `json:"running_version"`
	Trial          bool   `json:"trial"`
	Blessed        bool   `json:"blessed"`
	Health         string `json:"health"`
	Slots          []struct {
		Slot, Version string
		Running       bool
	} `json:"slots"`
	Last *struct {
		Result    string  `json:"result"`
		Reason    string  `json:"reason"`
		Version   int64   `json:"version"`
		Slot      string  `json:"slot"`
		DurationS float64 `json:"duration_seconds"`
	} `json:"last"`
	Progress struct {
		Active bool   `json:"active"`
		Phase  string `json:"phase"`
		Done   int64  `json:"done_bytes"`
		Total  int64  `json:"total_bytes"`
	} `json:"progress"`
}

func (c *uiClient) updateStatus() (updateStatus, error) {
	var st updateStatus
	code, b, err := c.do("GET", "/api/update/status", nil, nil)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("GET /api/update/status = %d: %s (is the update agent mounted at /api/update?)", code, b)
	}
	return st, json.Unmarshal(b, &st)
}

// waitStatus polls the update status until ok says so (the box may be
// rebooting meanwhile).
func (c *uiClient) waitStatus(d time.Duration, what string, ok func(updateStatus) bool, tail func() string) updateStatus {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var st updateStatus
	var err error
	for time.Now().Before(deadline) {
		st, err = c.updateStatus()
		if err == nil && ok(st) {
			return st
		}
		time.Sleep(time.Second)
	}
	c.t.Fatalf("%s: not reached within %s: last status %+v (last %+v), %v\n%s", what, d, st, st.Last, err, tail())
	return st
}

// pushBundle runs the push command and returns its output and exit error.
func pushBundle(ctx context.Context, cmdPath, box, pwFile, bundlePath string) (string, error) {
	cmd := exec.CommandContext(ctx, cmdPath, "--box", box, "--password-file", pwFile, "--insecure", "--timeout", "15m", bundlePath)
	out, err := cmd.CombinedOutput()
	return strings.ReplaceAll(string(out), "\r", "\n"), err
}

// upload posts raw bundle bytes to the API and returns the status and body.
func (c *uiClient) upload(body []byte) (int, string) {
	c.t.Helper()
	// Its own client: the box writes and verifies the slot before it
	// answers, which takes minutes under emulation.
	hc := *c.hc
	hc.Timeout = 10 * time.Minute
	req, err := http.NewRequest("POST", c.base+"/api/update", bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
