package webui

import (
	"fmt"
	"net/http"
	"time"
)

// dashboard gathers what the dashboard shows; parts that fail are named
// in Partial and the rest is still shown.
func (srv *Server) dashboard(r *http.Request, rq *request) dashboardView {
	ctx := r.Context()
	v := dashboardView{base: srv.pageBase(r, rq, "Dashboard", "dashboard")}
	v.Live = true
	var err error
	if v.Status, err = srv.opts.Monitor.Status(ctx); err != nil {
		v.Partial = append(v.Partial, "status: "+err.Error())
	}
	rates := srv.series.portRates()
	for _, p := range v.Status.Ports {
		v.Ports = append(v.Ports, portView{Port: p, Rate: rates[p.Name]})
	}
	for k := 1; k < len(v.Status.Drops); k++ {
		v.DropsTotal += v.Status.Drops[k]
	}
	v.DropRate = srv.series.lastDropRate()
	now := srv.now()
	v.Fine = buildChart("Drops per second by reason, last 15 minutes", srv.series.rates(false), fineSpan, now)
	coarse := srv.series.rates(true)
	window := coarseWindow(coarse, now)
	v.Coarse = buildChart(fmt.Sprintf("Drops per second by reason, last %d h (1-minute averages)", int(window.Hours())), coarse, window, now)
	if v.Top, err = srv.opts.Monitor.TopSources(ctx, 10); err != nil {
		v.Partial = append(v.Partial, "top sources: "+err.Error())
	}
	if v.Quarantine, err = srv.opts.Monitor.Quarantined(ctx); err != nil {
		v.Partial = append(v.Partial, "quarantine: "+err.Error())
	}
	v.Events = srv.recent.list()
	if len(v.Events) > 15 {
		v.Events = v.Events[:15]
	}
	return v
}

func (srv *Server) handleDashboard(w http.ResponseWriter, r *http.Request, rq *request) {
	srv.render(w, r, http.StatusOK, dashboardPage(srv.dashboard(r, rq)))
}

// handleLive is GET /live: the refreshable part of the dashboard.
func (srv *Server) handleLive(w http.ResponseWriter, r *http.Request, rq *request) {
	srv.render(w, r, http.StatusOK, dashboardLive(srv.dashboard(r, rq)))
}

// coarseWindow is the span the long chart shows: the history there is, at
// least an hour, at most 24 hours, so a young box does not draw a day of
// empty axis.
func coarseWindow(pts []ratePoint, now time.Time) time.Duration {
	if len(pts) == 0 {
		return time.Hour
	}
	span := now.Sub(pts[0].t).Truncate(time.Hour) + time.Hour
	return min(max(span, time.Hour), coarseSpan)
}
