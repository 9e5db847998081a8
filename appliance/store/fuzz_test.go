package store

import (
	"strings"
	"testing"
)

// FuzzParseExport feeds arbitrary bytes to the import parser: it must never
// panic, and whatever it accepts must be a valid config that exports and
// parses back to the same thing.
func FuzzParseExport(f *testing.F) {
	f.Add([]byte(`{"format":"rackwall-config/1","revision":3,"policy":"","rules":"pass all\n","settings":{"confirm_seconds":60,"listen_https":":443","mgmt_mode":"dhcp","bridge_mtu":1500,"fail_mode":"open"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseExport(data)
		if err != nil {
			return
		}
		if err := ValidateConfig(Config{Policy: e.Policy, Rules: e.Rules, Settings: e.Settings}); err != nil {
			t.Fatalf("accepted an invalid config: %v", err)
		}
	})
}

// FuzzDecodeRevision feeds arbitrary bytes to the config file decoder, which
// reads whatever a power cut or a bad disk left on /perm.
func FuzzDecodeRevision(f *testing.F) {
	f.Add([]byte(`{"revision":1,"author":"system","time":"2026-01-01T00:00:00Z","summary":"s","config":{"policy":"","rules":"","settings":{},"auth":{}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, ignored, err := decodeRevision(data)
		if err == nil && r.N <= 0 {
			t.Fatalf("accepted revision number %d", r.N)
		}
		if err != nil && len(ignored) > 0 {
			t.Fatalf("ignored fields reported for a refused file: %v", ignored)
		}
	})
}

// FuzzDecodeCredentials feeds arbitrary bytes to the credentials file
// decoder: it must never panic, and what it accepts must be credentials
// the store would write.
func FuzzDecodeCredentials(f *testing.F) {
	f.Add([]byte(`{"format":"rackwall-credentials/1","admin_hash":"$2a$10$abcdefghijklmnopqrstuuJ3ZbQdxN1bCc9cqgk4RcS5mX4b/K1Ai","tokens":[{"id":"t1","name":"ci","hash":"` + strings.Repeat("a", 64) + `","created":"2026-01-01T00:00:00Z"}]}`))
	f.Add([]byte(`{"format":"rackwall-credentials/1"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := decodeCredentials(data)
		if err != nil {
			return
		}
		if err := c.validate(); err != nil {
			t.Fatalf("accepted credentials that do not validate: %v", err)
		}
	})
}
