// Package metrics exports the dataplane's counters to Prometheus. It is the
// one dataplane package that imports github.com/prometheus/client_golang,
// so the packet path never depends on it.
//
// Every series is per port, per reason or global: never per IP address or
// source, so the number of series stays fixed however many hosts send. The
// one exception is rackwall_quarantine_source_info, which names at most
// NamedQuarantines quarantined sources in a fixed set of slots, so an alert
// can say which host was contained.
package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/filter"
	"github.com/rackwall/rackwall/dataplane/frag"
	"github.com/rackwall/rackwall/dataplane/quarantine"
	"github.com/rackwall/rackwall/dataplane/reason"
)

// Source is what the collector reads; *dataplane.Engine implements it.
type Source interface {
	Counters() dataplane.Snapshot
	Health() dataplane.Health
	FragStats() frag.Stats
	FilterStats() filter.Stats
	Quarantine() *quarantine.Table
}

var _ Source = (*dataplane.Engine)(nil)

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc("rackwall_"+name, help, labels, nil)
}

var (
	framesReceived  = desc("frames_received_total", "Frames received on the port.", "port")
	bytesReceived   = desc("bytes_received_total", "Bytes received on the port.", "port")
	framesForwarded = desc("frames_forwarded_total", "Frames received on the port that passed the policy and were sent out of the other port.", "port")
	framesSent      = desc("frames_transmitted_total", "Frames transmitted on the port.", "port")
	bytesSent       = desc("bytes_transmitted_total", "Bytes transmitted on the port.", "port")
	drops           = desc("drops_total", "Frames received on the port and dropped, by reason and the POLICY rule it enforces.", "port", "reason", "rule")
	ringDrops       = desc("ring_drops_total", "Frames the kernel dropped because the port's receive ring was full.", "port")
	txDrops         = desc("transmit_drops_total", "Frames lost on transmit: link down, transmit ring full or frame too large.", "port")
	rxTruncated     = desc("receive_truncated_total", "Frames larger than the receive ring could hold, dropped.", "port")
	rxCut           = desc("rx_cut_frames_total", "Frames of quarantined sources the kernel socket filter cut to their headers (counted and dropped as quarantined).", "port")
	reopens         = desc("port_reopens_total", "Times the port reattached to its re-created interface.", "port")
	linkUp          = desc("link_up", "Whether the port's link is up (1) or not (0).", "port")
	lastForward     = desc("last_forward_timestamp_seconds", "When a frame received on the port was last forwarded, Unix time.", "port")

	fragBytesHeld     = desc("fragment_bytes_held", "Bytes of fragments held for incomplete datagrams.")
	fragBudget        = desc("fragment_memory_budget_bytes", "The fragment_memory budget.")
	fragDatagramsHeld = desc("fragment_datagrams_held", "Datagrams being reassembled.")
	fragFragmentsHeld = desc("fragment_fragments_held", "Fragments held for incomplete datagrams.")
	fragSources       = desc("fragment_sources_holding", "Sources holding fragments.")

	connections      = desc("connections", "Connections in the filter's table.")
	connCapacity     = desc("connections_capacity", "Size of the filter's connection table.")
	connByState      = desc("connections_by_state", "Connections in the filter's table by state.", "state")
	connEvictions    = desc("connection_evictions_total", "Connections pushed out of the table to make room.")
	connExpired      = desc("connection_expirations_total", "Connections removed after their idle timeout.")
	quarantined      = desc("quarantined_sources", "Sources quarantined now.")
	trackedSources   = desc("tracked_sources", "Sources with accounting records.")
	dataplaneRunning = desc("dataplane_running", "Whether the packet loop is running (1) or not (0).")
)

// Collector is a prometheus.Collector over one engine.
type Collector struct {
	src Source
}

// NewCollector returns a collector reading src at every scrape.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{framesReceived, bytesReceived, framesForwarded, framesSent, bytesSent,
		drops, ringDrops, txDrops, rxTruncated, rxCut, reopens, linkUp, lastForward,
		fragBytesHeld, fragBudget, fragDatagramsHeld, fragFragmentsHeld, fragSources,
		connections, connCapacity, connByState, connEvictions, connExpired,
		quarantined, trackedSources, dataplaneRunning, quarantineInfo} {
		ch <- d
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func gauge(ch chan<- prometheus.Metric, d *prometheus.Desc, v float64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	snap := c.src.Counters()
	health := c.src.Health()
	for i, p := range snap.Ports {
		port := p.Name
		counter(ch, framesReceived, p.RxFrames, port)
		counter(ch, bytesReceived, p.RxBytes, port)
		counter(ch, framesForwarded, p.Forwarded, port)
		counter(ch, framesSent, p.TxFrames, port)
		counter(ch, bytesSent, p.TxBytes, port)
		// Every reason is exported, zeros included, so rates work from the
		// first scrape and the series set never changes.
		for _, r := range reason.All() {
			counter(ch, drops, p.DropsByReason[r], port, r.String(), r.Rule())
		}
		counter(ch, ringDrops, p.RingDrops, port)
		// A port that keeps its own transmit statistics counts the frames
		// it refused among its drops; the engine counts only the refusals.
		counter(ch, txDrops, max(p.TxDropped, p.TxErrors), port)
		counter(ch, rxTruncated, p.RxTruncated, port)
		counter(ch, rxCut, p.RxCut, port)
		counter(ch, reopens, p.Reopens, port)
		h := health.Ports[i]
		gauge(ch, linkUp, boolValue(h.LinkUp), port)
		var last float64
		if !h.LastForwarded.IsZero() {
			last = float64(h.LastForwarded.UnixNano()) / 1e9
		}
		gauge(ch, lastForward, last, port)
	}

	fs := c.src.FragStats()
	gauge(ch, fragBytesHeld, float64(fs.BytesHeld))
	gauge(ch, fragBudget, float64(fs.Budget))
	gauge(ch, fragDatagramsHeld, float64(fs.DatagramsHeld))
	gauge(ch, fragFragmentsHeld, float64(fs.FragmentsHeld))
	gauge(ch, fragSources, float64(fs.SourcesHolding))

	ft := c.src.FilterStats()
	gauge(ch, connections, float64(ft.Connections))
	gauge(ch, connCapacity, float64(ft.Capacity))
	for st := filter.State(1); st < filter.NumStates; st++ {
		gauge(ch, connByState, float64(ft.ByState[st]), st.String())
	}
	counter(ch, connEvictions, ft.Evictions)
	counter(ch, connExpired, ft.Expired)

	q := c.src.Quarantine()
	gauge(ch, quarantined, float64(q.NumQuarantined()))
	gauge(ch, trackedSources, float64(q.Len()))
	collectQuarantineInfo(ch, q, time.Now())
	gauge(ch, dataplaneRunning, boolValue(health.Running))
}
