package metrics

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rackwall/rackwall/dataplane/source"
)

// More quarantined sources than there are slots: exactly NamedQuarantines
// series, slots 0 to 7 once each, the sources with the most drops charged
// first, and the count of all of them in rackwall_quarantined_sources.
func TestQuarantineInfoBounded(t *testing.T) {
	e, up, _ := runningEngine(t)
	now := time.Now()
	for i := 1; i <= 12; i++ {
		k, _ := source.Parse(fmt.Sprintf("198.51.100.%d", i))
		// Quarantined a second apart, earliest first: the order among
		// sources with equal drops.
		if err := e.Quarantine().Quarantine(k, time.Hour, "test", now.Add(time.Duration(i)*time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	// Frames from quarantined sources are dropped and charged to them:
	// .11 gets five, .12 three, so they lead the ranking.
	for range 5 {
		up.Inject(udpFrame(11, false))
	}
	for range 3 {
		up.Inject(udpFrame(12, false))
	}
	for deadline := time.Now().Add(5 * time.Second); e.Counters().Ports[0].RxFrames < 8; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("frames not counted: %+v", e.Counters())
		}
	}

	c := NewCollector(e)
	want := `
# HELP rackwall_quarantine_source_info ` + quarantineInfoHelp + `
# TYPE rackwall_quarantine_source_info gauge
rackwall_quarantine_source_info{kind="ipv4",slot="0",source="198.51.100.11"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="1",source="198.51.100.12"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="2",source="198.51.100.1"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="3",source="198.51.100.2"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="4",source="198.51.100.3"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="5",source="198.51.100.4"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="6",source="198.51.100.5"} 1
rackwall_quarantine_source_info{kind="ipv4",slot="7",source="198.51.100.6"} 1
# HELP rackwall_quarantined_sources Sources quarantined now.
# TYPE rackwall_quarantined_sources gauge
rackwall_quarantined_sources 12
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want),
		"rackwall_quarantine_source_info", "rackwall_quarantined_sources"); err != nil {
		t.Fatal(err)
	}
}

// A released source leaves the info metric at the next scrape, and with no
// quarantine there is no series at all (so an alert on it resolves).
func TestQuarantineInfoFollowsRelease(t *testing.T) {
	e, _, _ := runningEngine(t)
	c := NewCollector(e)
	if n := testutil.CollectAndCount(c, "rackwall_quarantine_source_info"); n != 0 {
		t.Fatalf("%d info series with nothing quarantined", n)
	}
	v6, _ := source.Parse("2001:db8:7:1::/64")
	mac, _ := source.Parse("mac 02:00:00:00:00:09")
	for _, k := range []source.Key{v6, mac} {
		if err := e.Quarantine().Quarantine(k, time.Hour, "test", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	want := `
# HELP rackwall_quarantine_source_info ` + quarantineInfoHelp + `
# TYPE rackwall_quarantine_source_info gauge
rackwall_quarantine_source_info{kind="ipv6",slot="0",source="2001:db8:7:1::/64"} 1
rackwall_quarantine_source_info{kind="mac",slot="1",source="mac 02:00:00:00:00:09"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "rackwall_quarantine_source_info"); err != nil {
		t.Fatal(err)
	}
	if err := e.Quarantine().Release(v6, "test", time.Now()); err != nil {
		t.Fatal(err)
	}
	want = `
# HELP rackwall_quarantine_source_info ` + quarantineInfoHelp + `
# TYPE rackwall_quarantine_source_info gauge
rackwall_quarantine_source_info{kind="mac",slot="0",source="mac 02:00:00:00:00:09"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "rackwall_quarantine_source_info"); err != nil {
		t.Fatal(err)
	}
}
