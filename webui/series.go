package webui

import (
	"sync"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// sample is a snapshot of the cumulative counters at one moment.
type sample struct {
	t     time.Time
	drops [reason.Count]uint64
	ports []Port
}

// ring keeps the last len(buf) samples.
type ring struct {
	buf   []sample
	start int
	n     int
}

func (r *ring) add(s sample) {
	if r.n < len(r.buf) {
		r.buf[(r.start+r.n)%len(r.buf)] = s
		r.n++
		return
	}
	r.buf[r.start] = s
	r.start = (r.start + 1) % len(r.buf)
}

func (r *ring) at(i int) *sample { return &r.buf[(r.start+i)%len(r.buf)] }

func (r *ring) last() *sample {
	if r.n == 0 {
		return nil
	}
	return r.at(r.n - 1)
}

// series is the dashboard's in-memory history of the counters: a fine ring
// (one sample per sampling period, 15 minutes) and a coarse ring (one per
// minute, 24 hours). Rates are differences of cumulative counters, so a
// missed sample only widens one interval.
type series struct {
	mu     sync.Mutex
	fine   ring
	coarse ring
}

const (
	fineSpan   = 15 * time.Minute
	coarseStep = time.Minute
	coarseSpan = 24 * time.Hour
)

func newSeries(step time.Duration) *series {
	return &series{
		fine:   ring{buf: make([]sample, int(fineSpan/step)+1)},
		coarse: ring{buf: make([]sample, int(coarseSpan/coarseStep)+1)},
	}
}

func (s *series) add(sm sample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.fine.last(); l != nil && !sm.t.After(l.t) {
		return // the clock went backwards; keep the series monotonic
	}
	s.fine.add(sm)
	if l := s.coarse.last(); l == nil || sm.t.Sub(l.t) >= coarseStep {
		s.coarse.add(sm)
	}
}

// ratePoint is the per-second rate of each reason over one interval, at its end.
type ratePoint struct {
	t     time.Time
	drops [reason.Count]float64
}

// rates returns the drop rates over the fine (15 min) or coarse (24 h) ring.
func (s *series) rates(coarse bool) []ratePoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &s.fine
	if coarse {
		r = &s.coarse
	}
	if r.n < 2 {
		return nil
	}
	out := make([]ratePoint, 0, r.n-1)
	for i := 1; i < r.n; i++ {
		a, b := r.at(i-1), r.at(i)
		dt := b.t.Sub(a.t).Seconds()
		p := ratePoint{t: b.t}
		for k := range b.drops {
			if b.drops[k] >= a.drops[k] { // a counter reset (dataplane restart) counts as no data
				p.drops[k] = float64(b.drops[k]-a.drops[k]) / dt
			}
		}
		out = append(out, p)
	}
	return out
}

// portRate is a port's per-second rates over the last sampling interval.
type portRate struct {
	RxFPS, RxBPS, TxFPS, TxBPS float64
}

// portRates returns the latest per-second rates by port name.
func (s *series) portRates() map[string]portRate {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]portRate{}
	if s.fine.n < 2 {
		return out
	}
	a, b := s.fine.at(s.fine.n-2), s.fine.at(s.fine.n-1)
	dt := b.t.Sub(a.t).Seconds()
	prev := map[string]Port{}
	for _, p := range a.ports {
		prev[p.Name] = p
	}
	for _, p := range b.ports {
		q, ok := prev[p.Name]
		if !ok {
			continue
		}
		out[p.Name] = portRate{
			RxFPS: counterRate(q.RxFrames, p.RxFrames, dt), RxBPS: counterRate(q.RxBytes, p.RxBytes, dt),
			TxFPS: counterRate(q.TxFrames, p.TxFrames, dt), TxBPS: counterRate(q.TxBytes, p.TxBytes, dt),
		}
	}
	return out
}

func counterRate(a, b uint64, dt float64) float64 {
	if b < a || dt <= 0 {
		return 0
	}
	return float64(b-a) / dt
}

// totalDropRate is the sum over reasons of the last fine interval.
func (s *series) lastDropRate() float64 {
	pts := s.rates(false)
	if len(pts) == 0 {
		return 0
	}
	var sum float64
	for _, v := range pts[len(pts)-1].drops {
		sum += v
	}
	return sum
}
