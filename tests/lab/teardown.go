package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// State records what a lab made, so a later process (rackwall-lab down) can
// remove exactly that and nothing else.
type State struct {
	ID         string   `json:"id"`
	Mode       Mode     `json:"mode"`
	Namespaces []string `json:"namespaces"`
	// PIDs of detached processes (a dataplane started by `up`).
	PIDs []int `json:"pids,omitempty"`
	// Interface names, for a person reading the file.
	ClientIf   string    `json:"client_if"`
	UplinkPort string    `json:"uplink_port"`
	RackPort   string    `json:"rack_port"`
	Taps       [2]string `json:"taps,omitempty"`
	MetricsURL string    `json:"metrics_url,omitempty"`
	// WorkDir holds logs and binaries of the lab; removed on teardown.
	WorkDir string `json:"work_dir"`
}

// State describes the lab as it is now.
func (l *Lab) State() State {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := State{
		ID: l.ID, Mode: l.mode, Namespaces: l.Namespaces(),
		ClientIf: l.ClientIf, UplinkPort: l.UplinkPort, RackPort: l.RackPort,
		Taps: l.taps, WorkDir: l.workDir,
	}
	for _, p := range l.procs {
		if done, _ := p.Exited(); !done {
			s.PIDs = append(s.PIDs, p.PID())
		}
	}
	return s
}

// Detach forgets the lab's processes and namespaces without removing them,
// so they outlive this process; Teardown(State()) removes them later.
func (l *Lab) Detach() State {
	s := l.State()
	l.mu.Lock()
	l.closed = true
	l.procs = nil
	l.mu.Unlock()
	unregister(l)
	return s
}

// WriteState saves s as JSON.
func WriteState(path string, s State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadState loads a state file written by WriteState.
func ReadState(path string) (State, error) {
	var s State
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	for _, ns := range s.Namespaces {
		if !strings.HasPrefix(ns, "rw-"+s.ID+"-") {
			return s, fmt.Errorf("%s: namespace %q is not one of lab %s's", path, ns, s.ID)
		}
	}
	if s.WorkDir != "" && !strings.HasPrefix(filepath.Base(s.WorkDir), "rackwall-lab-"+s.ID+"-") {
		return s, fmt.Errorf("%s: work dir %q is not one of lab %s's", path, s.WorkDir, s.ID)
	}
	return s, nil
}

// Teardown removes what a State records: its recorded processes, any
// process still inside its namespaces, and the namespaces.
func Teardown(s State, logf func(string, ...any)) error {
	for _, pid := range s.PIDs {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if len(s.PIDs) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
	err := teardownNamespaces(s.Namespaces, logf)
	if s.WorkDir != "" {
		err = errors.Join(err, os.RemoveAll(s.WorkDir))
	}
	return err
}

// teardownNamespaces kills the processes inside each namespace (a namespace
// outlives `ip netns del` while a process holds it, and so would its
// interfaces) and deletes it. Missing namespaces are not an error.
func teardownNamespaces(names []string, logf func(string, ...any)) error {
	existing := map[string]bool{}
	out, err := runIn(context.Background(), nil, "", "ip", "netns", "list")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			existing[f[0]] = true
		}
	}
	var errs []error
	for _, ns := range names {
		if !existing[ns] {
			continue
		}
		if out, err := runIn(context.Background(), nil, "", "ip", "netns", "pids", ns); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if _, err := runIn(context.Background(), logf, "", "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Labs still open in this process, closed on SIGINT/SIGTERM so an
// interrupted test run leaves nothing behind.
var (
	liveMu  sync.Mutex
	live    = map[*Lab]bool{}
	sigOnce sync.Once
)

func register(l *Lab) {
	liveMu.Lock()
	live[l] = true
	liveMu.Unlock()
	sigOnce.Do(func() {
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
		go func() {
			sig := <-ch
			liveMu.Lock()
			labs := make([]*Lab, 0, len(live))
			for l := range live {
				labs = append(labs, l)
			}
			liveMu.Unlock()
			for _, l := range labs {
				_ = l.Close()
			}
			fmt.Fprintf(os.Stderr, "lab: %v: removed %d lab(s)\n", sig, len(labs))
			os.Exit(130)
		}()
	})
}

func unregister(l *Lab) {
	liveMu.Lock()
	delete(live, l)
	liveMu.Unlock()
}
