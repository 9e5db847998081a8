package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// needPrometheusTool returns the path of promtool or prometheus. Without
// root the test skips (the Debian package cannot be installed); as root a
// missing tool fails it, so the shipped rules are never left unchecked.
func needPrometheusTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skipf("needs %s (Debian package prometheus) and root to install it", name)
	}
	t.Fatalf("%s not found: install the Debian package prometheus", name)
	return ""
}

func monitoringPath(t *testing.T, parts ...string) string {
	t.Helper()
	root, err := lab.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(append([]string{root, "monitoring"}, parts...)...)
}

var (
	promAlertLine  = regexp.MustCompile(`(?m)^\s*- alert: (\S+)\s*$`)
	promRecordLine = regexp.MustCompile(`(?m)^\s*- record: (\S+)\s*$`)
)

// TestPrometheusRules runs promtool over the shipped rules: every rule
// file is valid (check rules), every rule test passes (test rules), and
// every alert and recording rule is exercised by some rule test.
func TestPrometheusRules(t *testing.T) {
	promtool := needPrometheusTool(t, "promtool")
	dir := monitoringPath(t, "rules")
	all, err := filepath.Glob(filepath.Join(dir, "*.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var ruleFiles, testFiles []string
	for _, f := range all {
		if strings.HasSuffix(f, "_test.yml") {
			testFiles = append(testFiles, f)
		} else {
			ruleFiles = append(ruleFiles, f)
		}
	}
	if len(ruleFiles) == 0 || len(testFiles) == 0 {
		t.Fatalf("rule files %v, rule tests %v: want both", ruleFiles, testFiles)
	}
	if out, err := exec.Command(promtool, append([]string{"check", "rules"}, ruleFiles...)...).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	cmd := exec.Command(promtool, append([]string{"test", "rules"}, testFiles...)...)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}

	var tests strings.Builder
	for _, f := range testFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		tests.Write(b)
	}
	n := 0
	for _, f := range ruleFiles {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range promAlertLine.FindAllStringSubmatch(string(b), -1) {
			n++
			if !regexp.MustCompile(`alertname: ` + regexp.QuoteMeta(m[1]) + `\s`).MatchString(tests.String()) {
				t.Errorf("alert %s (%s) has no rule test", m[1], filepath.Base(f))
			}
		}
		for _, m := range promRecordLine.FindAllStringSubmatch(string(b), -1) {
			n++
			if !regexp.MustCompile(`expr: ` + regexp.QuoteMeta(m[1]) + `\s`).MatchString(tests.String()) {
				t.Errorf("recording rule %s (%s) has no rule test", m[1], filepath.Base(f))
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d rules found in %v", n, ruleFiles)
	}
}

// TestPrometheusConfigExample checks the scrape configuration example with
// promtool, its files put where it expects them.
func TestPrometheusConfigExample(t *testing.T) {
	promtool := needPrometheusTool(t, "promtool")
	b, err := os.ReadFile(monitoringPath(t, "prometheus.yml.example"))
	if err != nil {
		t.Fatal(err)
	}
	etc := t.TempDir()
	rules, err := os.ReadFile(monitoringPath(t, "rules", "rackwall.rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"rules/rackwall.rules.yml": rules,
		"rackwall.token":           []byte("lab-token\n"),
		"rackwall/boxes.pem":       selfSignedPEM(t),
	}
	for name, data := range files {
		p := filepath.Join(etc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg := filepath.Join(etc, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(string(b), "/etc/prometheus/", etc+"/")), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "check", "config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "SUCCESS: 1 rule files found") {
		t.Fatalf("promtool check config found no rule file:\n%s", out)
	}
}

// selfSignedPEM is a certificate like the one a box makes on first boot.
func selfSignedPEM(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rackwall"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"rackwall"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
