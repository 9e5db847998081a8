package webui

import (
	"fmt"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// Status is the live state of the box shown on the dashboard.
type Status struct {
	Version string    `json:"version"`
	Slot    string    `json:"slot"`
	Started time.Time `json:"started"`
	Bypass  Bypass    `json:"bypass"`
	Ports   []Port    `json:"ports"`
	// Drops are cumulative dropped frames, indexed by reason.Reason.
	Drops [reason.Count]uint64 `json:"-"`
	// Forwarded is the cumulative count of frames that crossed the bridge.
	Forwarded uint64 `json:"forwarded_frames"`
}

// Bypass is the fail-open/fail-closed state of the bridge.
type Bypass struct {
	Active bool   `json:"active"` // frames bypass the dataplane (or are cut, when failing closed)
	Mode   string `json:"mode"`   // "open" or "closed": what happens when the dataplane fails
	Reason string `json:"reason,omitempty"`
}

// Port is one network port with cumulative counters.
type Port struct {
	Name      string `json:"name"`
	Role      string `json:"role"` // "uplink", "rack" or "management"
	Up        bool   `json:"up"`
	SpeedMbps int    `json:"speed_mbps"`
	RxFrames  uint64 `json:"rx_frames"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxFrames  uint64 `json:"tx_frames"`
	TxBytes   uint64 `json:"tx_bytes"`
}

// SourceSummary is one source (POLICY.md F12) in the top list.
type SourceSummary struct {
	Key        string    `json:"key"`        // as source.Key.String writes it
	Violations uint64    `json:"violations"` // policy violations charged to the source (Q1)
	Drops      uint64    `json:"drops"`      // all dropped frames, cumulative
	LastSeen   time.Time `json:"last_seen"`
	// QuarantinedUntil is zero when the source is not quarantined.
	QuarantinedUntil time.Time `json:"quarantined_until,omitzero"`
}

// SourceDetail is everything known about one source.
type SourceDetail struct {
	SourceSummary
	// ByReason are the source's cumulative drops, indexed by reason.Reason.
	ByReason [reason.Count]uint64 `json:"-"`
	History  []QuarantineRecord   `json:"quarantine_history"`
}

// QuarantineRecord is one past or current quarantine of a source.
type QuarantineRecord struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`    // planned end, or the release time
	Cause  string    `json:"cause"`  // "threshold", "manual", ...
	Actor  string    `json:"actor"`  // who quarantined by hand, or "" for automatic
	Closed string    `json:"closed"` // "expired", "released by NAME", "" while active
}

// QuarantineEntry is one currently quarantined source.
type QuarantineEntry struct {
	Key      string    `json:"key"`
	Since    time.Time `json:"since"`
	Until    time.Time `json:"until"`
	Cause    string    `json:"cause"`
	Offenses int       `json:"offenses"` // how many times it was quarantined (the time doubles)
}

// Settings are the appliance settings editable on the System page.
type Settings struct {
	Syslog         string   `json:"syslog"`
	Webhook        string   `json:"webhook"`
	ConfirmSeconds int      `json:"confirm_seconds"`
	ListenHTTPS    string   `json:"listen_https"`
	ListenHTTP     string   `json:"listen_http"`
	MgmtMode       string   `json:"mgmt_mode"`
	MgmtAddress    string   `json:"mgmt_address"`
	MgmtGateway    string   `json:"mgmt_gateway"`
	MgmtDNS        []string `json:"mgmt_dns"`
	BridgeMTU      int      `json:"bridge_mtu"`
	FailMode       string   `json:"fail_mode"`
	UpdateChannel  string   `json:"update_channel"`  // https URL of a signed channel index; empty: none
	UpdateInterval string   `json:"update_interval"` // how often it is checked, e.g. "6h"
	UpdateMode     string   `json:"update_mode"`     // install or notify
}

// ConfigView is one revision of the config as the UI shows it.
type ConfigView struct {
	Revision int       `json:"revision"`
	Author   string    `json:"author"`
	Time     time.Time `json:"time"`
	Summary  string    `json:"summary"`
	Policy   string    `json:"policy"`
	Rules    string    `json:"rules"`
	Settings Settings  `json:"settings"`
	// Pending is a change that runs but awaits confirmation (current config only).
	Pending *Pending `json:"pending,omitempty"`
}

// Pending is a change applied with commit-confirm.
type Pending struct {
	Author   string    `json:"author"`
	Summary  string    `json:"summary"`
	Deadline time.Time `json:"deadline"`
	Rules    string    `json:"rules"`
	Policy   string    `json:"policy"`
}

// Knob is one policy setting with its current value and limits.
type Knob struct {
	Name        string   `json:"name"`
	Rule        string   `json:"rule"`
	Value       string   `json:"value"`
	Default     string   `json:"default"`
	Range       string   `json:"range"`
	Unit        string   `json:"unit,omitempty"`
	Choices     []string `json:"choices,omitempty"` // enum and bool knobs
	Description string   `json:"description"`
}

// Revision is a config revision in a listing.
type Revision struct {
	N       int       `json:"revision"`
	Author  string    `json:"author"`
	Time    time.Time `json:"time"`
	Summary string    `json:"summary"`
	Current bool      `json:"current"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
}

// APIToken is a stored API token; only the hash of its secret is kept.
type APIToken struct {
	ID      string    `json:"id"`
	Name    string    `json:"name"`
	Hash    string    `json:"-"` // hex SHA-256 of the secret
	Created time.Time `json:"created"`
}

// Event kinds.
const (
	EventQuarantine   = "quarantine"
	EventRelease      = "release"
	EventBypass       = "bypass"
	EventConfig       = "config"
	EventLoginFailure = "login_failure"
	EventLogin        = "login"
)

// Event is something an operator wants to hear about.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Source  string    `json:"source,omitempty"` // the source key, client IP, ...
	Actor   string    `json:"actor,omitempty"`
	Message string    `json:"message"`
}

// InputError is bad input the backend refuses; Part/Line/Column locate it
// in a text ("rules", "policy") when known. Handlers answer it with 400.
type InputError struct {
	Part   string `json:"part,omitempty"`
	Line   int    `json:"line,omitempty"`
	Column int    `json:"column,omitempty"`
	Msg    string `json:"error"`
}

func (e *InputError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d, column %d: %s", e.Part, e.Line, e.Column, e.Msg)
	}
	if e.Part != "" {
		return e.Part + ": " + e.Msg
	}
	return e.Msg
}

// ConflictError is a request that cannot be done in the current state (a
// change already pending, nothing to confirm). Handlers answer it with 409.
type ConflictError struct{ Msg string }

func (e *ConflictError) Error() string { return e.Msg }

// NotFoundError is an unknown source, revision or token. Handlers answer 404.
type NotFoundError struct{ What string }

func (e *NotFoundError) Error() string { return e.What + " not found" }
