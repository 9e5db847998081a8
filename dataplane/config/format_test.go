package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFormatRoundTrip(t *testing.T) {
	fromFile, err := Parse([]byte(allKnobsFile))
	if err != nil {
		t.Fatal(err)
	}
	odd := Default()
	odd.FragmentTimeout = 1500 * time.Millisecond
	odd.FragmentMemory = 3*mib + 7 // not a whole KiB
	odd.QuarantineMax = 36 * time.Hour
	odd.NeverQuarantine = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/128"), netip.MustParsePrefix("0.0.0.0/0")}
	odd.MinTTL, odd.MaxMSS = 255, 65495

	for name, p := range map[string]Policy{"default": Default(), "every knob": fromFile, "odd values": odd} {
		text := p.Format()
		back, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("%s: Parse(Format()) failed: %v\n%s", name, err, text)
		}
		if !reflect.DeepEqual(back, p) {
			t.Errorf("%s: round trip changed the policy\n got  %+v\n want %+v", name, back, p)
		}
		if again := back.Format(); again != text {
			t.Errorf("%s: Format is not stable across a round trip", name)
		}
	}
}

func TestFormatWritesEveryKnobWithItsRule(t *testing.T) {
	text := Default().Format()
	for _, k := range Knobs() {
		if k.Shorthand {
			if strings.Contains(text, "\n"+k.Name+":") {
				t.Errorf("Format wrote the shorthand %s", k.Name)
			}
			continue
		}
		line := "\n" + k.Name + ": " + k.Default + "\n"
		if !strings.Contains(text, line) {
			t.Errorf("Format lacks %q", strings.TrimSpace(line))
		}
		if !strings.Contains(text, "# "+k.Rule+": "+k.Description) {
			t.Errorf("Format lacks the rule comment of %s", k.Name)
		}
	}
}

func TestFormatDurationAndSize(t *testing.T) {
	for d, want := range map[time.Duration]string{
		5 * time.Second: "5s", 10 * time.Minute: "10m", 24 * time.Hour: "24h", 90 * time.Second: "90s",
		1500 * time.Millisecond: "1500ms", 3 * time.Microsecond: "3us", 7: "7ns", 0: "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[int64]string{64 << 20: "64MiB", 1 << 30: "1GiB", 1536: "1536", 3 << 10: "3KiB", 1000: "1000", 0: "0"} {
		if got := formatSize(v); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", v, got, want)
		}
	}
}
