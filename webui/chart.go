package webui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// chart is an SVG line chart of drop rates by reason, laid out in Go so the
// template only draws it.
type chart struct {
	Title         string
	Width, Height int
	PlotX, PlotY  int // top-left of the plot area
	PlotW, PlotH  int
	Lines         []chartLine
	YMax          string
	XStart, XEnd  string
	Empty         bool
	GridY         []int
}

type chartLine struct {
	Name   string
	Rule   string
	Color  string
	Points string // SVG polyline points
	Peak   string // highest rate in the window
}

// chartColors are distinguishable on white and for common colour blindness.
var chartColors = []string{"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000"}

// maxChartLines is how many reasons get their own line; the rest are summed as "other".
const maxChartLines = 6

func buildChart(title string, pts []ratePoint, span time.Duration, end time.Time) chart {
	c := chart{Title: title, Width: 720, Height: 220, PlotX: 56, PlotY: 10, PlotW: 650, PlotH: 180}
	start := end.Add(-span)
	layout := "15:04"
	if span > 12*time.Hour {
		layout = "Mon 15:04"
	}
	c.XStart = start.Local().Format(layout)
	c.XEnd = end.Local().Format(layout)
	if len(pts) == 0 {
		c.Empty = true
		return c
	}
	// Pick the reasons with the most drops in the window.
	var totals [reason.Count]float64
	for _, p := range pts {
		for k, v := range p.drops {
			totals[k] += v
		}
	}
	var order []int
	for k := 1; k < reason.Count; k++ {
		if totals[k] > 0 {
			order = append(order, k)
		}
	}
	if len(order) == 0 {
		c.Empty = true
		return c
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case totals[a] > totals[b]:
			return -1
		case totals[a] < totals[b]:
			return 1
		}
		return 0
	})
	type lineSrc struct {
		name, rule string
		val        func(p *ratePoint) float64
	}
	var srcs []lineSrc
	for i, k := range order {
		if i == maxChartLines && len(order) > maxChartLines+1 {
			rest := order[i:]
			srcs = append(srcs, lineSrc{name: "other", val: func(p *ratePoint) float64 {
				var s float64
				for _, k := range rest {
					s += p.drops[k]
				}
				return s
			}})
			break
		}
		r := reason.Reason(k)
		srcs = append(srcs, lineSrc{name: r.String(), rule: r.Rule(), val: func(p *ratePoint) float64 { return p.drops[k] }})
	}
	ymax := 0.0
	for _, src := range srcs {
		for i := range pts {
			ymax = max(ymax, src.val(&pts[i]))
		}
	}
	ymax = niceCeil(ymax)
	c.YMax = formatRate(ymax)
	for i := 1; i < 4; i++ {
		c.GridY = append(c.GridY, c.PlotY+c.PlotH*i/4)
	}
	x := func(t time.Time) float64 {
		f := float64(t.Sub(start)) / float64(span)
		return float64(c.PlotX) + max(0, min(1, f))*float64(c.PlotW)
	}
	y := func(v float64) float64 {
		return float64(c.PlotY+c.PlotH) - v/ymax*float64(c.PlotH)
	}
	for i, src := range srcs {
		var b strings.Builder
		peak := 0.0
		for j := range pts {
			if pts[j].t.Before(start) {
				continue
			}
			v := src.val(&pts[j])
			peak = max(peak, v)
			fmt.Fprintf(&b, "%.1f,%.1f ", x(pts[j].t), y(v))
		}
		c.Lines = append(c.Lines, chartLine{Name: src.name, Rule: src.rule, Color: chartColors[i%len(chartColors)],
			Points: strings.TrimSpace(b.String()), Peak: formatRate(peak)})
	}
	return c
}

// niceCeil rounds up to 1, 2 or 5 times a power of ten, so the axis label is readable.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := 1.0
	for p*10 <= v {
		p *= 10
	}
	for p > v {
		p /= 10
	}
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

func formatRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	case v >= 10 || v == 0:
		return fmt.Sprintf("%.0f/s", v)
	}
	return fmt.Sprintf("%.1f/s", v)
}
