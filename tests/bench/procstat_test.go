package main

import (
	"testing"
	"time"
)

const sampleStat = `cpu  3386 12 1560 180432 97 0 410 5 0 0
cpu0 1700 10 800 90000 50 0 10 3 0 0
cpu1 1686 2 760 90432 47 7 400 2 0 0
intr 123456 0 9
ctxt 987654
`

func TestParseCPUTimesPicksTheNamedCPU(t *testing.T) {
	c, err := parseCPUTimes(sampleStat, 1)
	if err != nil {
		t.Fatal(err)
	}
	// user+nice+system+irq+softirq of cpu1; idle, iowait and steal only in total.
	if want := uint64(1686 + 2 + 760 + 7 + 400); c.busy != want {
		t.Errorf("busy = %d, want %d", c.busy, want)
	}
	if want := uint64(1686 + 2 + 760 + 90432 + 47 + 7 + 400 + 2); c.total != want {
		t.Errorf("total = %d, want %d", c.total, want)
	}
	if want := uint64(7 + 400); c.irq != want {
		t.Errorf("irq = %d, want irq+softirq = %d", c.irq, want)
	}
	c0, err := parseCPUTimes(sampleStat, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(1700 + 10 + 800 + 0 + 10); c0.busy != want {
		t.Errorf("cpu0 busy = %d, want %d (the aggregate \"cpu\" line must not match)", c0.busy, want)
	}
}

func TestParseCPUTimesRefusesMissingOrShortLines(t *testing.T) {
	if _, err := parseCPUTimes(sampleStat, 2); err == nil {
		t.Error("cpu2 is not in the text: want an error")
	}
	if _, err := parseCPUTimes("cpu0 1 2 3\n", 0); err == nil {
		t.Error("a line with 3 fields: want an error")
	}
	if _, err := parseCPUTimes("cpu0 1 2 3 4 5 x 7 8\n", 0); err == nil {
		t.Error("a field that is no number: want an error")
	}
}

func TestBusySince(t *testing.T) {
	a := cpuTimes{busy: 100}
	b := cpuTimes{busy: 350}
	if got := b.busySince(a); got != 2500*time.Millisecond {
		t.Errorf("250 ticks = %v, want 2.5s", got)
	}
	if got := a.busySince(b); got != 0 {
		t.Errorf("a reading older than the earlier one = %v, want 0", got)
	}
}

func TestParseProcessTime(t *testing.T) {
	// A command name with a space and a ')' in it, as a program may name
	// itself; utime 1234 and stime 566 ticks.
	stat := "4242 (rack wall) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1234 566 0 0 20 0 9 0 55 0 0"
	got, err := parseProcessTime(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := (1234 + 566) * 10 * time.Millisecond; got != want {
		t.Errorf("got %v, want %v", got, want)
	}
	if _, err := parseProcessTime("4242 (x) S 1 2 3"); err == nil {
		t.Error("a cut line: want an error")
	}
}
