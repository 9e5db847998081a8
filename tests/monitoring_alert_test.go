package tests

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// promListen is where the test's Prometheus serves its API, on the box
// namespace's loopback next to the appliance.
const promListen = "127.0.0.1:9090"

// TestQuarantineAlertFires runs the appliance in the lab and a real
// Prometheus server next to it, scraping /metrics every second with an API
// token and evaluating the shipped rules. One server floods the box with
// tiny fragments until it is quarantined; the alert RackwallSourceQuarantined
// must then fire in Prometheus with that server's address in its labels and
// summary. Every query of the shipped dashboard must also evaluate on that
// Prometheus, against real data.
func TestQuarantineAlertFires(t *testing.T) {
	l := newLab(t, 3, "/usr/bin/python3")
	prom := needPrometheusTool(t, "prometheus")
	bin := buildAppliance(t)
	app := startAppliance(t, l, bin, t.TempDir())
	ui := newUIClient(t, "http://"+applianceListen, &http.Transport{DisableKeepAlives: true,
		DialContext: lab.HTTPClient(l.BoxNS, 5*time.Second).Transport.(*http.Transport).DialContext})
	ui.waitHealthy(30*time.Second, app.Output)
	ui.firstRun("lab admin password", setupCodeIn(t, app.Output))

	// Prometheus with the shipped rules, scraping the appliance with the token.
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "rackwall.token")
	if err := os.WriteFile(tokenFile, []byte(ui.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - %s
scrape_configs:
  - job_name: rackwall
    scheme: http
    metrics_path: /metrics
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: [%q]
`, monitoringPath(t, "rules", "rackwall.rules.yml"), tokenFile, applianceListen)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	server, err := l.Start(l.BoxNS, prom, "--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+promListen)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	api := &promAPI{t: t, hc: lab.HTTPClient(l.BoxNS, 5*time.Second), server: server}

	api.waitFor(30*time.Second, "Prometheus ready", func() (bool, string) {
		resp, err := api.hc.Get("http://" + promListen + "/-/ready")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
	// The scrape works with the token before anything else is judged.
	api.waitFor(30*time.Second, "the appliance scraped", func() (bool, string) {
		res := api.query(`up{job="rackwall"}`)
		return len(res) == 1 && res[0].Value[1] == "1", fmt.Sprint(res)
	})
	if alerts := api.alerts("RackwallSourceQuarantined"); len(alerts) != 0 {
		t.Fatalf("quarantine alert before any flood: %+v", alerts)
	}

	// s3 floods the client with first fragments far below
	// min_fragment_bytes (F6 violations), a new IP ID each, until the box
	// reports a quarantine.
	flooder := lab.ServerV4(3)
	s3If := l.ServerIf[2]
	frames := make([][]byte, 256)
	for i := range frames {
		frames[i] = lab.TinyFragment4Frame(l.MAC(l.ClientIf), l.MAC(s3If), flooder, lab.ClientV4, uint16(i+1), 9)
	}
	blast, err := lab.NewBlaster(lab.BlastSender{Port: lab.Port{NS: l.Server(3), If: s3If}, Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	blast.Start()
	for ui.metrics().Sum("rackwall_quarantined_sources") == 0 {
		if time.Since(start) > 10*time.Second {
			blast.Stop()
			blast.Close()
			t.Fatalf("no source quarantined after 10 s of flood\n%s", tail(app.Output(), 2048))
		}
		time.Sleep(100 * time.Millisecond)
	}
	sent, _ := blast.Stop()
	blast.Close()
	t.Logf("quarantine reported %v after the flood began (%d frames sent)", time.Since(start).Round(time.Millisecond), sent[0])

	// The alert fires in Prometheus, naming the flooder.
	var firing promAlert
	api.waitFor(20*time.Second, "RackwallSourceQuarantined firing for "+flooder.String(), func() (bool, string) {
		alerts := api.alerts("RackwallSourceQuarantined")
		for _, a := range alerts {
			if a.State == "firing" && a.Labels["source"] == flooder.String() {
				firing = a
				return true, ""
			}
		}
		return false, fmt.Sprintf("%+v", alerts)
	})
	t.Logf("alert %+v after %v", firing, time.Since(start).Round(time.Millisecond))
	if firing.Labels["instance"] != applianceListen || firing.Labels["kind"] != "ipv4" || firing.Labels["severity"] != "warning" {
		t.Errorf("alert labels %v: want instance %s, kind ipv4, severity warning", firing.Labels, applianceListen)
	}
	if !strings.Contains(firing.Annotations["summary"], flooder.String()) {
		t.Errorf("alert summary %q does not name %s", firing.Annotations["summary"], flooder)
	}

	// Every query of the dashboard evaluates here, with the box as $instance.
	b, err := os.ReadFile(monitoringPath(t, "grafana", "rackwall.json"))
	if err != nil {
		t.Fatal(err)
	}
	var exprs []string
	collectExprs(t, b, &exprs)
	if len(exprs) < 20 {
		t.Fatalf("only %d dashboard queries found", len(exprs))
	}
	for _, x := range exprs {
		if strings.HasPrefix(x, "label_values(") {
			continue // a Grafana function, not PromQL
		}
		api.query(strings.ReplaceAll(x, "$instance", applianceListen))
	}
	// The dashboard's table of quarantined sources shows the flooder.
	res := api.query(`rackwall_quarantine_source_info{job="rackwall", instance="` + applianceListen + `"}`)
	named := false
	for _, r := range res {
		named = named || r.Metric["source"] == flooder.String()
	}
	if !named {
		t.Errorf("rackwall_quarantine_source_info does not name %s: %+v", flooder, res)
	}

	server.Stop()
	if done, _ := server.Exited(); !done {
		t.Fatal("Prometheus still running after Stop")
	}
}

// collectExprs appends every "expr" string of a Grafana dashboard.
func collectExprs(t *testing.T, dashboard []byte, out *[]string) {
	t.Helper()
	var doc any
	if err := json.Unmarshal(dashboard, &doc); err != nil {
		t.Fatalf("dashboard: %v", err)
	}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok && k == "expr" {
					*out = append(*out, s)
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
}

// promAPI reads a Prometheus server's HTTP API.
type promAPI struct {
	t      *testing.T
	hc     *http.Client
	server *lab.Proc
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// get decodes the data of a successful API answer into v; an error
// answer (a query that does not parse, say) fails the test.
func (p *promAPI) get(path string, v any) error {
	resp, err := p.hc.Get("http://" + promListen + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("GET %s: %s: %w", path, resp.Status, err)
	}
	if body.Status != "success" {
		p.t.Fatalf("GET %s: %s %s", path, body.Status, body.Error)
	}
	return json.Unmarshal(body.Data, v)
}

// query evaluates an instant vector query now.
func (p *promAPI) query(q string) []promSample {
	p.t.Helper()
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get("/api/v1/query?query="+url.QueryEscape(q), &data); err != nil {
		p.t.Fatalf("query %s: %v\nprometheus:\n%s", q, err, tail(p.server.Output(), 2048))
	}
	if data.ResultType != "vector" {
		return nil // a scalar (count of nothing, say) has no labels to check
	}
	var res []promSample
	if err := json.Unmarshal(data.Result, &res); err != nil {
		p.t.Fatalf("query %s: %v", q, err)
	}
	return res
}

// alerts returns the pending and firing alerts named name.
func (p *promAPI) alerts(name string) []promAlert {
	p.t.Helper()
	var data struct {
		Alerts []promAlert `json:"alerts"`
	}
	if err := p.get("/api/v1/alerts", &data); err != nil {
		p.t.Fatalf("alerts: %v\nprometheus:\n%s", err, tail(p.server.Output(), 2048))
	}
	var out []promAlert
	for _, a := range data.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

// waitFor polls cond until it holds or d passes; cond's text says what it
// last saw.
func (p *promAPI) waitFor(d time.Duration, what string, cond func() (bool, string)) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not within %v; last %s\nprometheus:\n%s", what, d, last, tail(p.server.Output(), 2048))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
