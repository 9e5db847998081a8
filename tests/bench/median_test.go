package main

import (
	"slices"
	"testing"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(slices.Clone(tc.in)); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestMedianColumnsPerBox(t *testing.T) {
	rounds := [][]column{
		{{name: "kernel bridge", tcp1: 2e9, udpLoss: 1}, {name: "rackwall", tcp1: 1e9, rss: 50, hasBoxCounters: true}},
		{{name: "kernel bridge", tcp1: 9e9, udpLoss: 3}, {name: "rackwall", tcp1: 1.5e9, rss: 70, hasBoxCounters: true}},
		{{name: "kernel bridge", tcp1: 2.2e9, udpLoss: 2}, {name: "rackwall", tcp1: 1.2e9, rss: 60, hasBoxCounters: true}},
	}
	cols := medianColumns(rounds)
	if len(cols) != 2 {
		t.Fatalf("got %d columns, want 2", len(cols))
	}
	k, x := cols[0], cols[1]
	if k.name != "kernel bridge" || k.tcp1 != 2.2e9 || k.udpLoss != 2 || k.hasBoxCounters {
		t.Errorf("kernel column = %+v", k)
	}
	if x.name != "rackwall" || x.tcp1 != 1.2e9 || x.rss != 70 || !x.hasBoxCounters {
		t.Errorf("rackwall column = %+v", x)
	}
	got := roundRatios(rounds, 1, func(c column) float64 { return c.tcp1 })
	want := []float64{0.5, 1.5e9 / 9e9, 1.2e9 / 2.2e9}
	if !slices.Equal(got, want) {
		t.Errorf("roundRatios = %v, want %v", got, want)
	}
}
