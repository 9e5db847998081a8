package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// cpuTimes is one CPU's line of /proc/stat, in clock ticks (USER_HZ).
type cpuTimes struct {
	// busy is what the CPU spent working: user, nice, system, irq and
	// softirq. Softirq is where a veth's receive work and the kernel
	// bridge's forwarding run.
	busy uint64
	// total adds idle, iowait and steal: every tick of the CPU's clock.
	total uint64
	// irq is the part of busy spent in hard and soft interrupts: the
	// receive work of the box's ports and all of the kernel bridge. It
	// counts no program's time but the kernel's own.
	irq uint64
}

// busySince is the CPU time spent working between an earlier reading and
// this one.
func (c cpuTimes) busySince(earlier cpuTimes) time.Duration {
	if c.busy < earlier.busy {
		return 0
	}
	return ticks(c.busy - earlier.busy)
}

// irqSince is the interrupt time between an earlier reading and this one.
func (c cpuTimes) irqSince(earlier cpuTimes) time.Duration {
	if c.irq < earlier.irq {
		return 0
	}
	return ticks(c.irq - earlier.irq)
}

func ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / clockTicks) }

// parseCPUTimes finds the line of CPU cpu ("cpuN …") in the text of
// /proc/stat. The fields are user nice system idle iowait irq softirq
// steal (guest time is already counted in user).
func parseCPUTimes(stat string, cpu int) (cpuTimes, error) {
	name := "cpu" + strconv.Itoa(cpu)
	for _, line := range strings.Split(stat, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != name {
			continue
		}
		if len(f) < 9 {
			return cpuTimes{}, fmt.Errorf("/proc/stat: %s has %d fields, want at least 8", name, len(f)-1)
		}
		var v [8]uint64
		for i := range v {
			n, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("/proc/stat: %s field %d: %w", name, i+1, err)
			}
			v[i] = n
		}
		user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		busy := user + nice + system + irq + softirq
		return cpuTimes{busy: busy, total: busy + idle + iowait + steal, irq: irq + softirq}, nil
	}
	return cpuTimes{}, fmt.Errorf("/proc/stat: no line for %s", name)
}

func readCPUTimes(cpu int) (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseCPUTimes(string(b), cpu)
}

// parseProcessTime reads the CPU time (user plus system, all threads) of
// a process from the text of /proc/PID/stat. The command name, field 2,
// is in parentheses and may hold spaces, so fields are counted from the
// last ')'.
func parseProcessTime(stat string) (time.Duration, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/PID/stat: no command name in %q", stat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/PID/stat: %d fields after the name, want at least 13", len(f))
	}
	var sum uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/PID/stat: %w", err)
		}
		sum += n
	}
	return ticks(sum), nil
}

func readProcessTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseProcessTime(string(b))
}
