package webui

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// uiMetrics are the UI's own counters; the dataplane's are registered by
// the appliance through Registerer.
type uiMetrics struct {
	logins *prometheus.CounterVec
}

func newRegistry() (*prometheus.Registry, *uiMetrics) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &uiMetrics{
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "rackwall_ui_login_attempts_total",
			Help: "Login attempts at the web UI by result (success, failure, rate_limited).",
		}, []string{"result"}),
	}
	for _, r := range []string{"success", "failure", "rate_limited"} {
		m.logins.WithLabelValues(r)
	}
	reg.MustRegister(m.logins)
	return reg, m
}

// handleMetrics is GET /metrics in the Prometheus text format.
func (srv *Server) handleMetrics(w http.ResponseWriter, r *http.Request, rq *request) {
	promhttp.HandlerFor(srv.reg, promhttp.HandlerOpts{ErrorLog: nil}).ServeHTTP(w, r)
}
