package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The update channel settings are checked like the others: each bad value
// is refused naming its field, and nothing is stored.
func TestChannelSettingsValidated(t *testing.T) {
	dir := t.TempDir()
	s, _ := openTestStore(t, dir, Options{})
	before, _ := os.ReadFile(filepath.Join(dir, currentFile))
	for _, c := range []struct {
		set  func(*Settings)
		want string
	}{
		{func(s *Settings) { s.UpdateChannel = "http://updates.example.net/stable.index" }, "update_channel"},
		{func(s *Settings) { s.UpdateChannel = "https://user:pw@updates.example.net/x" }, "update_channel"},
		{func(s *Settings) { s.UpdateChannel = "updates.example.net/x" }, "update_channel"},
		{func(s *Settings) { s.UpdateInterval = "4m" }, "update_interval: 4m is outside 5m0s"},
		{func(s *Settings) { s.UpdateInterval = "9000h" }, "update_interval"},
		{func(s *Settings) { s.UpdateInterval = "often" }, "update_interval"},
		{func(s *Settings) { s.UpdateMode = "auto" }, "update_mode"},
	} {
		_, err := s.Commit("admin", "channel", func(cfg *Config) error { c.set(&cfg.Settings); return nil })
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Part != "settings" || !strings.Contains(ce.Msg, c.want) {
			t.Errorf("want a settings error naming %q, got %v", c.want, err)
		}
	}
	after, _ := os.ReadFile(filepath.Join(dir, currentFile))
	if string(before) != string(after) || s.Current().N != 1 {
		t.Fatal("a rejected channel setting altered the store")
	}
	r, err := s.Commit("admin", "channel", func(cfg *Config) error {
		cfg.Settings.UpdateChannel = "https://updates.example.net/stable.index"
		cfg.Settings.UpdateInterval = "30m"
		cfg.Settings.UpdateMode = UpdateModeNotify
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Config.Settings; got.ChannelInterval() != 30*time.Minute || !got.ChannelNotifyOnly() {
		t.Fatalf("stored %+v", got)
	}
}

// A config written before channels existed has no channel fields; it still
// validates, and its interval is the default.
func TestSettingsWithoutChannelFields(t *testing.T) {
	s := DefaultSettings()
	s.UpdateInterval, s.UpdateMode = "", ""
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.ChannelInterval() != DefaultUpdateInterval || s.ChannelNotifyOnly() {
		t.Fatalf("interval %s, notify %v", s.ChannelInterval(), s.ChannelNotifyOnly())
	}
}
