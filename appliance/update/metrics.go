package update

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descInfo = prometheus.NewDesc("rackwall_update_slot_info",
		"1 for each slot holding a known system; labels say its version and whether it runs.",
		[]string{"slot", "version", "running"}, nil)
	descTrial = prometheus.NewDesc("rackwall_update_trial",
		"1 while the running slot is on trial (not yet blessed).", nil, nil)
	descLastResult = prometheus.NewDesc("rackwall_update_last_result",
		"1 for the last update's result (success, failed, refused, installing, trying).",
		[]string{"result"}, nil)
	descLastSuccess = prometheus.NewDesc("rackwall_update_last_success_timestamp_seconds",
		"When the last update was blessed (Unix time); absent if the last update did not succeed.", nil, nil)
	descLastDuration = prometheus.NewDesc("rackwall_update_last_duration_seconds",
		"Upload start to blessed (or to failure) of the last finished update.", nil, nil)
	descProgress = prometheus.NewDesc("rackwall_update_progress_ratio",
		"Fraction of the running update's current phase done (0 when idle).", nil, nil)
)

// Collector exports the agent's state as Prometheus metrics; register it
// with the registry /metrics serves.
func (a *Agent) Collector() prometheus.Collector { return collector{a} }

type collector struct{ a *Agent }

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descInfo, descTrial, descLastResult, descLastSuccess, descLastDuration, descProgress} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Status()
	for _, s := range st.Slots {
		if s.Version == "" {
			continue
		}
		running := "false"
		if s.Running {
			running = "true"
		}
		ch <- prometheus.MustNewConstMetric(descInfo, prometheus.GaugeValue, 1, s.Slot, s.Version, running)
	}
	ch <- prometheus.MustNewConstMetric(descTrial, prometheus.GaugeValue, b2f(st.Trial))
	if st.Last != nil {
		ch <- prometheus.MustNewConstMetric(descLastResult, prometheus.GaugeValue, 1, st.Last.Result)
		if st.Last.Result == ResultSuccess && st.Last.Finished != nil {
			ch <- prometheus.MustNewConstMetric(descLastSuccess, prometheus.GaugeValue, float64(st.Last.Finished.Unix()))
		}
		if st.Last.DurationS > 0 {
			ch <- prometheus.MustNewConstMetric(descLastDuration, prometheus.GaugeValue, st.Last.DurationS)
		}
	}
	ratio := 0.0
	if st.Progress.Total > 0 {
		ratio = float64(st.Progress.Done) / float64(st.Progress.Total)
	}
	ch <- prometheus.MustNewConstMetric(descProgress, prometheus.GaugeValue, ratio)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
