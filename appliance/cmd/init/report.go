package main

import (
	"log"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// reportStarts logs once on the console when each supervised program is
// first seen running. gokrazy keeps service output in memory only, so this
// is what the serial console (and the boot test) can see of the services.
func reportStarts(paths []string, deadline time.Duration) {
	pending := map[string]bool{}
	for _, p := range paths {
		pending[p] = true
	}
	start := time.Now()
	for len(pending) > 0 {
		for pid, exe := range runningExecutables() {
			if pending[exe] {
				log.Printf("rackwall init: service %s running (pid %d) after %s", exe, pid, time.Since(start).Round(time.Millisecond))
				delete(pending, exe)
			}
		}
		if time.Since(start) > deadline {
			for p := range pending {
				log.Printf("rackwall init: service %s not running %s after start", p, deadline)
			}
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runningExecutables maps pid to the executable of every process.
func runningExecutables() map[int]string {
	exes := map[int]string{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		if exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe")); err == nil {
			exes[pid] = exe
		}
	}
	return exes
}
