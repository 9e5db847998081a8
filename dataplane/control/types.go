package control

import (
	"time"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/filter"
	"github.com/rackwall/rackwall/dataplane/frag"
	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// Status is GET /status.
type Status struct {
	Counters       dataplane.Snapshot `json:"counters"`
	Health         dataplane.Health   `json:"health"`
	Fragments      FragmentStats      `json:"fragments"`
	Filter         FilterStats        `json:"filter"`
	Quarantined    int                `json:"quarantined"`     // sources quarantined now
	TrackedSources int                `json:"tracked_sources"` // sources with accounting records
	// Policy is the running policy as a policy file.
	Policy string `json:"policy"`
}

// FragmentStats is the reassembler's state.
type FragmentStats struct {
	BytesHeld      int64  `json:"bytes_held"`
	BytesPooled    int64  `json:"bytes_pooled"`
	Budget         int64  `json:"budget"`
	DatagramsHeld  int    `json:"datagrams_held"`
	DeadRemembered int    `json:"dead_remembered"`
	FragmentsHeld  int    `json:"fragments_held"`
	SourcesTracked int    `json:"sources_tracked"`
	SourcesHolding int    `json:"sources_holding"`
	PerSourceShare int64  `json:"per_source_share"`
	BiggestHolder  string `json:"biggest_holder,omitempty"`
	BiggestHeld    int64  `json:"biggest_held"`
}

func fragmentStats(s frag.Stats) FragmentStats {
	out := FragmentStats{
		BytesHeld: s.BytesHeld, BytesPooled: s.BytesPooled, Budget: s.Budget,
		DatagramsHeld: s.DatagramsHeld, DeadRemembered: s.DeadRemembered, FragmentsHeld: s.FragmentsHeld,
		SourcesTracked: s.SourcesTracked, SourcesHolding: s.SourcesHolding,
		PerSourceShare: s.PerSourceShare, BiggestHeld: s.BiggestHeld,
	}
	if s.BiggestHeld > 0 {
		out.BiggestHolder = s.BiggestHolder.String()
	}
	return out
}

// Source is one tracked source (GET /sources, GET /sources/{key}).
type Source struct {
	Source     string            `json:"source"`
	Drops      map[string]uint64 `json:"drops"` // by reason
	TotalDrops uint64            `json:"total_drops"`
	Violations uint64            `json:"violations"`
	Recent     int               `json:"recent"` // violations in the current window
	FirstSeen  time.Time         `json:"first_seen,omitzero"`
	LastSeen   time.Time         `json:"last_seen,omitzero"`
	Offences   int               `json:"offences"`
	Protected  bool              `json:"protected"`

	Quarantined bool      `json:"quarantined"`
	Since       time.Time `json:"since,omitzero"`
	Until       time.Time `json:"until,omitzero"`
	Automatic   bool      `json:"automatic,omitempty"`
	By          string    `json:"by,omitempty"`

	// Events are the source's quarantine events still held (GET /sources/{key} only).
	Events []Event `json:"events,omitempty"`
}

func sourceOf(s quarantine.SourceStats) Source {
	return Source{
		Source: s.Key.String(), Drops: countsMap(&s.Counts), TotalDrops: s.Drops, Violations: s.Violations,
		Recent: s.Recent, FirstSeen: s.FirstSeen, LastSeen: s.LastSeen, Offences: s.Offences, Protected: s.Protected,
		Quarantined: s.Quarantined, Since: s.Since, Until: s.Until, Automatic: s.Automatic, By: s.By,
	}
}

// QuarantineEntry is one quarantined source (GET /quarantine).
type QuarantineEntry struct {
	Source    string            `json:"source"`
	Since     time.Time         `json:"since"`
	Until     time.Time         `json:"until"`
	Offences  int               `json:"offences"`
	Drops     map[string]uint64 `json:"drops"`
	Automatic bool              `json:"automatic"`
	By        string            `json:"by,omitempty"`
}

func entryOf(e quarantine.Entry) QuarantineEntry {
	return QuarantineEntry{Source: e.Key.String(), Since: e.Since, Until: e.Until, Offences: e.Offences,
		Drops: countsMap(&e.Counts), Automatic: e.Automatic, By: e.By}
}

// Event is one quarantine event (GET /events).
type Event struct {
	Seq       uint64            `json:"seq"`
	Kind      string            `json:"kind"`
	Time      time.Time         `json:"time"`
	Source    string            `json:"source"`
	Since     time.Time         `json:"since,omitzero"`
	Until     time.Time         `json:"until,omitzero"`
	Offence   int               `json:"offence"`
	Automatic bool              `json:"automatic"`
	By        string            `json:"by,omitempty"`
	Drops     map[string]uint64 `json:"drops"`
	Recent    int               `json:"recent"`
}

func eventOf(e quarantine.Event) Event {
	return Event{Seq: e.Seq, Kind: e.Kind.String(), Time: e.Time, Source: e.Key.String(), Since: e.Since, Until: e.Until,
		Offence: e.Offence, Automatic: e.Automatic, By: e.By, Drops: countsMap(&e.Counts), Recent: e.Recent}
}

func eventsOf(evs []quarantine.Event) []Event {
	out := make([]Event, 0, len(evs))
	for _, e := range evs {
		out = append(out, eventOf(e))
	}
	return out
}

// countsMap names the non-zero counts by reason label.
func countsMap(c *quarantine.Counts) map[string]uint64 {
	m := make(map[string]uint64)
	for r, n := range c {
		if n != 0 {
			m[reason.Reason(r).String()] = n
		}
	}
	return m
}

// QuarantineRequest is the body of POST /quarantine.
type QuarantineRequest struct {
	Source   string `json:"source"`   // "192.0.2.7", "2001:db8:1::/64", "mac-02:00:00:00:00:01"
	Duration string `json:"duration"` // a Go duration: "10m", "1h30m"
	By       string `json:"by"`       // who asks
}

// errorBody is every error response.
type errorBody struct {
	Error string `json:"error"`
}

// FilterStats is the stateful filter's state.
type FilterStats struct {
	Connections int            `json:"connections"`
	Capacity    int            `json:"capacity"`
	ByState     map[string]int `json:"by_state"`
	Evictions   uint64         `json:"evictions"`
	Expired     uint64         `json:"expired"`
	TableFull   uint64         `json:"table_full"`
	RateLimited uint64         `json:"rate_limited"`
	Logged      uint64         `json:"logged"`
	Generation  uint64         `json:"rules_generation"`
}

func filterStats(s filter.Stats) FilterStats {
	out := FilterStats{Connections: s.Connections, Capacity: s.Capacity, ByState: map[string]int{},
		Evictions: s.Evictions, Expired: s.Expired, TableFull: s.TableFull, RateLimited: s.RateLimited,
		Logged: s.Logged, Generation: s.Generation}
	for st, n := range s.ByState {
		if n != 0 {
			out.ByState[filter.State(st).String()] = n
		}
	}
	return out
}
