package main

import (
	"reflect"
	"slices"
	"testing"
	"unsafe"
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

// roundsOfFigures builds three rounds of two rows of T in which every
// float64 field holds a different value per round: 3, 1, 2 times the
// field's place in the row and the row's place in the round, so the median
// of each is the round that held 2.
func roundsOfFigures[T any](t *testing.T) [][]T {
	t.Helper()
	var rounds [][]T
	for _, k := range []float64{3, 1, 2} {
		round := make([]T, 2)
		for row := range round {
			v := reflect.ValueOf(&round[row]).Elem()
			for f := range v.NumField() {
				if field := v.Field(f); field.Kind() == reflect.Float64 {
					// The fields are unexported: set them through their address.
					*(*float64)(unsafe.Pointer(field.UnsafeAddr())) = k * float64(f+1) * float64(row+1)
				}
			}
		}
		rounds = append(rounds, round)
	}
	return rounds
}

// checkEveryFigureIsTheMedian holds every float64 field of every row of got
// to the median roundsOfFigures put there: a figure left out of the median
// stays zero.
func checkEveryFigureIsTheMedian[T any](t *testing.T, got []T) {
	t.Helper()
	if len(got) != 2 {
		t.Fatalf("got %d rows, want 2", len(got))
	}
	for row := range got {
		v := reflect.ValueOf(got[row])
		for f := range v.NumField() {
			if v.Field(f).Kind() != reflect.Float64 {
				continue
			}
			if want := 2 * float64(f+1) * float64(row+1); v.Field(f).Float() != want {
				t.Errorf("%T row %d: %s = %v, want the median %v", got[row], row, v.Type().Field(f).Name, v.Field(f).Float(), want)
			}
		}
	}
}

func TestMediansCoverEveryFigure(t *testing.T) {
	checkEveryFigureIsTheMedian(t, medianColumns(roundsOfFigures[column](t)))
	checkEveryFigureIsTheMedian(t, medianCells(roundsOfFigures[capCell](t)))
	checkEveryFigureIsTheMedian(t, medianTCP(roundsOfFigures[tcpRow](t)))
}

func TestMedianRoundsTakesARowFromTheRoundsThatHaveIt(t *testing.T) {
	rounds := [][]column{
		{{name: "kernel bridge", tcp1: 1}, {name: "rackwall", tcp1: 10}},
		{{name: "kernel bridge", tcp1: 3}},
		{{name: "kernel bridge", tcp1: 2}, {name: "rackwall", tcp1: 30}},
	}
	cols := medianColumns(rounds)
	if len(cols) != 2 || cols[0].tcp1 != 2 || cols[1].name != "rackwall" || cols[1].tcp1 != 20 {
		t.Errorf("medians = %+v, want kernel bridge 2 and rackwall 20 (the two rounds that measured it)", cols)
	}
	if got := medianColumns(nil); got != nil {
		t.Errorf("no rounds: %+v, want none", got)
	}
}
