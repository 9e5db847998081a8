package metrics

import (
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/source"
)

// NamedQuarantines is how many quarantined sources are named in
// rackwall_quarantine_source_info at most. The metric is the one place a
// source appears as a label value, so an alert can say which host it was;
// the fixed number of slots keeps it to at most this many series per box
// however many sources a flood gets quarantined. rackwall_quarantined_sources
// still counts them all.
const NamedQuarantines = 8

const quarantineInfoHelp = "1 for each of the (at most 8) quarantined sources with the most drops charged, busiest in slot 0; " +
	"source is an IPv4 address, an IPv6 /64 or 'mac' and a MAC address, kind says which."

var quarantineInfo = desc("quarantine_source_info", quarantineInfoHelp, "slot", "source", "kind")

// collectQuarantineInfo exports the busiest quarantined sources of q.
func collectQuarantineInfo(ch chan<- prometheus.Metric, q *quarantine.Table, now time.Time) {
	for i, e := range busiestQuarantines(q.Quarantined(now), NamedQuarantines) {
		gauge(ch, quarantineInfo, 1, strconv.Itoa(i), e.Key.String(), kindName(e.Key.Kind))
	}
}

// busiestQuarantines returns up to n of the entries, the ones with the most
// drops charged first; among equals the longest quarantined, then by
// address, so the order is the same at every scrape while nothing changes.
func busiestQuarantines(entries []quarantine.Entry, n int) []quarantine.Entry {
	drops := make(map[source.Key]uint64, len(entries))
	for _, e := range entries {
		var sum uint64
		for _, c := range e.Counts {
			sum += c
		}
		drops[e.Key] = sum
	}
	slices.SortFunc(entries, func(a, b quarantine.Entry) int {
		switch da, db := drops[a.Key], drops[b.Key]; {
		case da != db:
			return cmpDesc(da, db)
		case !a.Since.Equal(b.Since):
			return a.Since.Compare(b.Since)
		}
		return compareKeys(a.Key, b.Key)
	})
	return entries[:min(n, len(entries))]
}

func cmpDesc(a, b uint64) int {
	if a > b {
		return -1
	}
	return 1
}

func compareKeys(a, b source.Key) int {
	if a.Kind != b.Kind {
		return int(a.Kind) - int(b.Kind)
	}
	ab, bb := a.Bytes(), b.Bytes()
	return slices.Compare(ab[:], bb[:])
}

// kindName is the kind label: what the source label holds.
func kindName(k source.Kind) string {
	switch k {
	case source.KindIPv4:
		return "ipv4"
	case source.KindIPv6:
		return "ipv6"
	case source.KindMAC:
		return "mac"
	}
	return "none"
}
