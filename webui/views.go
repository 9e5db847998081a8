package webui

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// base is what every page's layout needs.
type base struct {
	Title   string
	Active  string // nav entry
	User    string
	CSRF    string
	Flash   string
	Err     string
	Pending *Pending
	Now     time.Time
	Live    bool // the page updates itself from /events/stream
}

type portView struct {
	Port
	Rate portRate
}

type dashboardView struct {
	base
	Status     Status
	Ports      []portView
	DropRate   float64
	DropsTotal uint64
	Fine       chart
	Coarse     chart
	Top        []SourceSummary
	Quarantine []QuarantineEntry
	Events     []Event
	Partial    []string // what could not be read
}

type rulesView struct {
	base
	Text     string
	Running  string
	Problem  *InputError
	Listing  []listingLine
	Diff     []*diffLine
	Changed  bool
	Checked  bool
	ConfirmS int
}

type listingLine struct {
	N    int
	Text string
	Bad  bool
	Col  int
}

type policyView struct {
	base
	Knobs    []Knob
	Values   map[string]string
	BadKnob  string
	Problem  *InputError
	ConfirmS int
}

type hostsView struct {
	base
	Top        []SourceSummary
	Quarantine []QuarantineEntry
	Reasons    []reasonOption
	Key        string
	Duration   string
}

type reasonOption struct{ Name, Rule string }

type hostView struct {
	base
	Detail   SourceDetail
	ByReason []reasonCount
}

type reasonCount struct {
	Name, Rule, Text string
	Count            uint64
}

type systemView struct {
	base
	Config    ConfigView
	Revisions []Revision
	Audit     []AuditEntry
	Tokens    []APIToken
	NewToken  string
	DNS       string
}

type diffView struct {
	base
	A, B     ConfigView
	Sections []diffSection
}

type diffSection struct {
	Name    string
	Lines   []*diffLine
	Changed bool
}

type authView struct {
	CSRF  string
	Err   string
	Setup bool
	Wait  string
	// Locked: the stored credentials are unreadable; no form is offered.
	Locked bool
}

// Formatting helpers for the templates.

func itoa(i int) string { return strconv.Itoa(i) }

func u64(v uint64) string {
	s := strconv.FormatUint(v, 10)
	// Thousands separators make counters readable at a glance.
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func perSecond(v float64) string { return formatRate(v) }

func bitsPerSecond(bytesPerSec float64) string {
	b := bytesPerSec * 8
	switch {
	case b >= 1e9:
		return fmt.Sprintf("%.2f Gbit/s", b/1e9)
	case b >= 1e6:
		return fmt.Sprintf("%.1f Mbit/s", b/1e6)
	case b >= 1e3:
		return fmt.Sprintf("%.1f kbit/s", b/1e3)
	}
	return fmt.Sprintf("%.0f bit/s", b)
}

func speed(mbps int) string {
	switch {
	case mbps <= 0:
		return "unknown"
	case mbps >= 1000 && mbps%1000 == 0:
		return fmt.Sprintf("%d Gbit/s", mbps/1000)
	}
	return fmt.Sprintf("%d Mbit/s", mbps)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func timeLeft(until, now time.Time) string {
	d := until.Sub(now).Round(time.Second)
	if d <= 0 {
		return "expiring"
	}
	return shortDuration(d)
}

// secondsLeft is sent to the browser instead of the deadline itself, so the
// countdown does not depend on the admin's clock agreeing with the box's.
func secondsLeft(until, now time.Time) string {
	return strconv.Itoa(max(0, int(until.Sub(now).Seconds())))
}

func shortDuration(d time.Duration) string {
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %02dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %02ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// hostPath is the URL of a source's page. Keys are written so they need
// no escaping: "mac-…" for MACs, the /64 dropped for IPv6 (any address of
// the /64 names it).
func hostPath(key string) string {
	return "/hosts/" + url.PathEscape(urlKey(key))
}

func urlKey(key string) string {
	key = strings.Replace(key, "mac ", "mac-", 1)
	return strings.TrimSuffix(key, "/64")
}

func capturePath(reasonName, src string) string {
	q := url.Values{}
	if reasonName != "" {
		q.Set("reason", reasonName)
	}
	if src != "" {
		q.Set("source", src)
	}
	if len(q) == 0 {
		return "/capture.pcapng"
	}
	return "/capture.pcapng?" + q.Encode()
}

func reasonOptions() []reasonOption {
	var out []reasonOption
	for _, r := range reason.All() {
		out = append(out, reasonOption{Name: r.String(), Rule: r.Rule()})
	}
	return out
}

func chartViewBox(c chart) string { return fmt.Sprintf("0 0 %d %d", c.Width, c.Height) }

func yAxisLabelY(c chart) string { return itoa(c.PlotY + 10) }
