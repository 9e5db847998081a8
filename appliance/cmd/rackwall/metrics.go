package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/rackwall/rackwall/appliance/supervise"
)

// registerMetrics adds the supervisor's state and the dataplane's own
// metrics to the UI's registry (which already holds the Go and process
// collectors of this program).
func registerMetrics(reg prometheus.Registerer, sup *supervise.Supervisor, c *child) error {
	if err := reg.Register(&stateCollector{sup: sup}); err != nil {
		return err
	}
	return reg.Register(&dataplaneCollector{url: c.metricsURL, hc: &http.Client{Timeout: 2 * time.Second}})
}

var (
	bypassActiveDesc = prometheus.NewDesc("rackwall_bypass_active",
		"Whether frames cross through the fail-open kernel bridge instead of the dataplane (1) or not (0).", nil, nil)
	portStateDesc = prometheus.NewDesc("rackwall_ports_state",
		"Where the bridge ports are: 1 for the current state (starting, forwarding, bypass, isolated).", []string{"state"}, nil)
	restartsDesc = prometheus.NewDesc("rackwall_dataplane_restarts_total",
		"Times the dataplane ended (crash, failed probes, refused start) and was started again.", nil, nil)
	scrapeOKDesc = prometheus.NewDesc("rackwall_dataplane_scrape_ok",
		"Whether the dataplane's own metrics could be read for this scrape (1) or not (0).", nil, nil)
)

// stateCollector exports the supervisor's view of the ports.
type stateCollector struct {
	sup *supervise.Supervisor
}

func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bypassActiveDesc
	ch <- portStateDesc
	ch <- restartsDesc
}

func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	st := s.sup.Status()
	ch <- prometheus.MustNewConstMetric(bypassActiveDesc, prometheus.GaugeValue, boolValue(st.State == supervise.Bypass))
	for _, state := range []supervise.State{supervise.Starting, supervise.Forwarding, supervise.Bypass, supervise.Isolated} {
		ch <- prometheus.MustNewConstMetric(portStateDesc, prometheus.GaugeValue, boolValue(st.State == state), string(state))
	}
	ch <- prometheus.MustNewConstMetric(restartsDesc, prometheus.CounterValue, float64(st.Restarts))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// dataplaneCollector republishes the running dataplane's metrics, read
// from its loopback /metrics at each scrape. Its Go and process series are
// left out: the names would collide with this program's own.
type dataplaneCollector struct {
	url func() string
	hc  *http.Client
}

// Describe sends nothing: the dataplane's series are only known once read
// (an unchecked collector).
func (d *dataplaneCollector) Describe(chan<- *prometheus.Desc) {}

func (d *dataplaneCollector) Collect(ch chan<- prometheus.Metric) {
	fams, err := d.scrape()
	if err != nil {
		ch <- prometheus.MustNewConstMetric(scrapeOKDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(scrapeOKDesc, prometheus.GaugeValue, 1)
	for name, fam := range fams {
		if !republished(name) {
			continue
		}
		for _, m := range fam.Metric {
			if pm, err := constMetric(fam, m); err == nil {
				ch <- pm
			} else {
				ch <- prometheus.NewInvalidMetric(prometheus.NewDesc(name, fam.GetHelp(), nil, nil), err)
			}
		}
	}
}

func republished(name string) bool {
	for _, p := range []string{"go_", "process_", "promhttp_"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	return true
}

func (d *dataplaneCollector) scrape() (map[string]*dto.MetricFamily, error) {
	url := d.url()
	if url == "" {
		return nil, fmt.Errorf("no dataplane metrics address")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := d.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("dataplane metrics: %s", resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// constMetric turns one parsed sample back into a prometheus.Metric.
func constMetric(fam *dto.MetricFamily, m *dto.Metric) (prometheus.Metric, error) {
	names := make([]string, 0, len(m.Label))
	values := make([]string, 0, len(m.Label))
	for _, l := range m.Label {
		names = append(names, l.GetName())
		values = append(values, l.GetValue())
	}
	desc := prometheus.NewDesc(fam.GetName(), fam.GetHelp(), names, nil)
	switch fam.GetType() {
	case dto.MetricType_COUNTER:
		return prometheus.NewConstMetric(desc, prometheus.CounterValue, m.GetCounter().GetValue(), values...)
	case dto.MetricType_GAUGE:
		return prometheus.NewConstMetric(desc, prometheus.GaugeValue, m.GetGauge().GetValue(), values...)
	case dto.MetricType_UNTYPED:
		return prometheus.NewConstMetric(desc, prometheus.UntypedValue, m.GetUntyped().GetValue(), values...)
	case dto.MetricType_HISTOGRAM:
		h := m.GetHistogram()
		buckets := map[float64]uint64{}
		for _, b := range h.Bucket {
			if math.IsInf(b.GetUpperBound(), +1) {
				continue // implicit in a prometheus histogram
			}
			buckets[b.GetUpperBound()] = b.GetCumulativeCount()
		}
		return prometheus.NewConstHistogram(desc, h.GetSampleCount(), h.GetSampleSum(), buckets, values...)
	case dto.MetricType_SUMMARY:
		s := m.GetSummary()
		q := map[float64]float64{}
		for _, x := range s.Quantile {
			q[x.GetQuantile()] = x.GetValue()
		}
		return prometheus.NewConstSummary(desc, s.GetSampleCount(), s.GetSampleSum(), q, values...)
	}
	return nil, fmt.Errorf("metric type %v not supported", fam.GetType())
}
