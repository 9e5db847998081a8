package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// pinProcess moves every thread of this process to cpu, so the capacity
// part's generator (a goroutine on its own OS thread) and everything the
// benchmark runs from here on (nft, ip, iperf3, the counters it reads)
// stay off the box's CPU. Threads made later inherit the setting from the
// thread that makes them. The priority stays as it is: above the usual,
// the generator would starve that CPU's softirq thread, which runs the
// sink behind the box. The returned func lets the threads run anywhere
// again.
func pinProcess(cpu int) (restore func() error, err error) {
	var one, all unix.CPUSet
	one.Set(cpu)
	for c := range runtime.NumCPU() {
		all.Set(c)
	}
	if err := setAllThreads(&one); err != nil {
		return nil, err
	}
	return func() error { return setAllThreads(&all) }, nil
}

// setAllThreads gives every thread of this process the CPU set (Linux
// keeps it per thread).
func setAllThreads(set *unix.CPUSet) error {
	// Twice: a thread the runtime starts while the first pass runs may
	// have copied the old setting from a thread not yet moved.
	for range 2 {
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity of thread %d: %w", tid, err)
			}
		}
	}
	return nil
}
