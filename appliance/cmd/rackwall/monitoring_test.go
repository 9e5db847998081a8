package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/rackwall/rackwall/appliance/supervise"
	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/dataplane"
	dpmetrics "github.com/rackwall/rackwall/dataplane/metrics"
)

// monitoringDir is the shipped Prometheus and Grafana configuration.
const monitoringDir = "../../../monitoring"

// exportedMetricNames is every metric name this program's /metrics can
// carry: a real scrape of a registry put together as the appliance does
// (its own collectors, a running dataplane's metrics republished over
// HTTP, Go and process collectors), plus the described names of the
// collectors whose series only appear in some states (an update's result).
func exportedMetricNames(t *testing.T) map[string]bool {
	t.Helper()
	up, rack := dataplane.NewMemPort("uplink0"), dataplane.NewMemPort("rack0")
	e, err := dataplane.New(dataplane.Config{UplinkPort: up, RackPort: rack,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	dpReg := prometheus.NewRegistry()
	dpReg.MustRegister(dpmetrics.NewCollector(e))
	srv := httptest.NewServer(promhttp.HandlerFor(dpReg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)

	sup := supervise.New(supervise.Config{
		Command:    func() *exec.Cmd { return exec.Command("/bin/false") },
		Probe:      func(context.Context) error { return errors.New("not started") },
		Bypass:     &fakeBypass{},
		MinBackoff: time.Hour,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&stateCollector{sup: sup},
		&dataplaneCollector{url: func() string { return srv.URL + "/metrics" }, hc: srv.Client()})
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, f := range fams {
		names[f.GetName()] = true
	}
	if !names["rackwall_drops_total"] || !names["rackwall_bypass_active"] {
		t.Fatalf("the scrape lacks the dataplane's or the appliance's series: %v", names)
	}
	ch := make(chan *prometheus.Desc, 64)
	(*update.Agent)(nil).Collector().Describe(ch)
	(&stateCollector{}).Describe(ch)
	dpmetrics.NewCollector(e).Describe(ch)
	close(ch)
	fqName := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names[m[1]] = true
	}
	return names
}

var (
	// recordedName is a recording rule's name (level:metric:operations).
	recordedName = regexp.MustCompile(`\b[a-z_]+:[a-z0-9_]+:[a-z0-9_]+\b`)
	rackwallName = regexp.MustCompile(`\brackwall_[a-z0-9_]+\b`)
	recordLine   = regexp.MustCompile(`(?m)^\s*- record: (\S+)\s*$`)
)

// checkNames fails t for every rackwall metric text refers to that is not
// exported and every recording rule it uses that no rule file defines.
func checkNames(t *testing.T, where, text string, exported, recorded map[string]bool) {
	t.Helper()
	for _, r := range recordedName.FindAllString(text, -1) {
		if !recorded[r] {
			t.Errorf("%s uses the recording rule %s, which no rule file defines", where, r)
		}
	}
	for _, n := range rackwallName.FindAllString(recordedName.ReplaceAllString(text, " "), -1) {
		if !exported[n] {
			t.Errorf("%s uses the metric %s, which the appliance does not export", where, n)
		}
	}
}

// Every metric the shipped rules and dashboard ask for exists in what the
// appliance exports, so a renamed metric cannot leave an alert that never
// fires or a panel that stays empty.
func TestShippedMonitoringUsesExportedMetrics(t *testing.T) {
	exported := exportedMetricNames(t)

	ruleFiles, err := filepath.Glob(filepath.Join(monitoringDir, "rules", "*.yml"))
	if err != nil || len(ruleFiles) == 0 {
		t.Fatalf("no rule files in %s/rules: %v", monitoringDir, err)
	}
	recorded := map[string]bool{}
	rules := map[string]string{}
	for _, f := range ruleFiles {
		if strings.HasSuffix(f, "_test.yml") {
			continue // rule tests feed made-up series on purpose
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rules[f] = string(b)
		for _, m := range recordLine.FindAllStringSubmatch(string(b), -1) {
			recorded[m[1]] = true
		}
	}
	if len(recorded) == 0 {
		t.Fatal("no recording rules found")
	}
	for f, text := range rules {
		checkNames(t, filepath.Base(f), text, exported, recorded)
	}

	exprs := dashboardExprs(t, filepath.Join(monitoringDir, "grafana", "rackwall.json"))
	for _, x := range exprs {
		checkNames(t, "dashboard expression "+x, x, exported, recorded)
	}
}

// dashboardExprs returns the PromQL of every target and template variable
// of the dashboard at path.
func dashboardExprs(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && (k == "expr" || k == "definition") {
					exprs = append(exprs, s)
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if len(exprs) < 20 {
		t.Fatalf("%s: only %d expressions found", path, len(exprs))
	}
	return exprs
}

// The dashboard takes its data source as a variable (so it imports into
// any Grafana), has a fleet row and a one-box row driven by the instance
// variable, and every query of the one-box row selects that instance.
func TestDashboardShape(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(monitoringDir, "grafana", "rackwall.json"))
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	}
	type panel struct {
		Type       string `json:"type"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []target `json:"targets"`
	}
	var d struct {
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []panel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v.Type
	}
	if vars["datasource"] != "datasource" || vars["instance"] != "query" {
		t.Fatalf("template variables %v: want datasource (datasource) and instance (query)", vars)
	}
	var rows []string
	inBox := false
	for _, p := range d.Panels {
		if p.Type == "row" {
			rows = append(rows, p.Title)
			inBox = strings.Contains(p.Title, "$instance")
			continue
		}
		if p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %q, %d queries", p.Title, p.Datasource.UID, len(p.Targets))
		}
		for _, q := range p.Targets {
			if q.Datasource.UID != "${datasource}" || q.Expr == "" {
				t.Errorf("panel %q: query %q on data source %q", p.Title, q.Expr, q.Datasource.UID)
			}
			if inBox && !strings.Contains(q.Expr, `instance="$instance"`) {
				t.Errorf("panel %q of the one-box row: %q does not select $instance", p.Title, q.Expr)
			}
			if !strings.Contains(q.Expr, `job="rackwall"`) {
				t.Errorf("panel %q: %q does not select the rackwall job", p.Title, q.Expr)
			}
		}
	}
	if len(rows) != 2 || strings.Contains(rows[0], "$instance") || !strings.Contains(rows[1], "$instance") {
		t.Fatalf("rows %q: want a fleet row, then a one-box row", rows)
	}
}
