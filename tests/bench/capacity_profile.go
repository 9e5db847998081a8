package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// profileRun is what -profile captured: the files and the cell measured
// while capturing.
type profileRun struct {
	dir     string
	binary  string // the dataplane binary the profile belongs to
	pprof   string // Go CPU profile of rackwall-dataplane, "" if it has no --cpuprofile
	perf    string // perf record of the box CPU, "" without perf
	cell    capCell
	missing []string // what could not be captured, and why
}

// profile runs rackwall once more on the 64-byte one-flow cell with a Go
// CPU profile of the dataplane and, where perf is installed, a perf
// record of the box CPU (kernel and user, call graphs).
func (c *capacityRun) profile(rep *report) error {
	dir, err := filepath.Abs(c.o.profileDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	pr := &profileRun{dir: dir, binary: filepath.Join(dir, "rackwall-dataplane")}
	if err := copyFile(c.dataplane, pr.binary); err != nil {
		return err
	}
	var extra []string
	if c.cpuprof {
		pr.pprof = filepath.Join(dir, "rackwall-dataplane-64B-1flow.pprof")
		os.Remove(pr.pprof)
		extra = append(extra, "--cpuprofile", pr.pprof)
	} else {
		pr.missing = append(pr.missing, "Go profile: rackwall-dataplane has no --cpuprofile")
	}
	progress("profile: rackwall, 64 bytes, 1 flow, %s", c.o.capDuration)
	stop, pid, err := c.startDataplane(extra)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	s, err := installSink(c.l, lab.ServerV4(1), capacityPort)
	if err != nil {
		return err
	}
	defer s.remove()
	baseline, err := busyShare(baselineWindow)
	if err != nil {
		return err
	}
	var perf *exec.Cmd
	if path, err := exec.LookPath("perf"); err == nil {
		pr.perf = filepath.Join(dir, "perf-cpu"+strconv.Itoa(boxCPU)+".data")
		perf = exec.Command(path, "record", "-q", "-C", strconv.Itoa(boxCPU), "-g", "-o", pr.perf)
		perf.Stdout, perf.Stderr = io.Discard, io.Discard
		if err := perf.Start(); err != nil {
			pr.missing = append(pr.missing, "perf record: "+err.Error())
			pr.perf, perf = "", nil
		}
	} else {
		pr.missing = append(pr.missing, "perf: not installed")
	}
	cell, cerr := c.measureCell(s, capacitySizes[0], 1, baseline, pid)
	if perf != nil {
		perf.Process.Signal(syscall.SIGINT)
		// perf record ends with the signal's status; what counts is the
		// file it leaves.
		werr := waitCmd(perf, 30*time.Second)
		if st, err := os.Stat(pr.perf); err != nil || st.Size() == 0 {
			pr.missing = append(pr.missing, fmt.Sprintf("perf record wrote nothing (%v)", werr))
			pr.perf = ""
		}
	}
	if cerr != nil {
		return cerr
	}
	cell.box = "rackwall (profiled)"
	pr.cell = cell
	// The dataplane writes its profile as it exits on SIGTERM.
	stopped = true
	if err := stop(); err != nil {
		return err
	}
	if pr.pprof != "" {
		if st, err := os.Stat(pr.pprof); err != nil || st.Size() == 0 {
			return fmt.Errorf("rackwall-dataplane wrote no CPU profile to %s (%v)", pr.pprof, err)
		}
	}
	rep.profile = pr
	return nil
}

func waitCmd(cmd *exec.Cmd, d time.Duration) error {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("still running after %s, killed", d)
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

func (r *report) printProfile(w io.Writer) {
	p := r.profile
	if p == nil {
		return
	}
	c := p.cell
	fmt.Fprintf(w, "profile: rackwall, 64 bytes, 1 flow: %s kpps offered, %s kpps delivered, %.0f box ns per frame\n",
		kpps(c.offeredPPS), kpps(c.deliveredPPS), c.nsPerFrame)
	if p.pprof != "" {
		fmt.Fprintf(w, "  go tool pprof -top %s %s\n", p.binary, p.pprof)
	}
	if p.perf != "" {
		fmt.Fprintf(w, "  perf report -i %s --no-children --sort sym\n", p.perf)
	}
	for _, m := range p.missing {
		fmt.Fprintf(w, "  not captured: %s\n", m)
	}
	fmt.Fprintln(w)
}
