package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/control"
)

// child starts rackwall-dataplane processes and remembers the running one.
type child struct {
	binary, uplink, rack string
	dir, socket          string
	config               func() store.Config
	log                  *slog.Logger

	mu          sync.Mutex
	cmd         *exec.Cmd
	metricsAddr string
}

// Files the dataplane reads at start, in the runtime folder.
const (
	policyFileName = "policy.conf"
	rulesFileName  = "filter.rules"
)

// command builds the next dataplane command. It writes the stored policy
// and rules to the runtime folder first, so a restarted dataplane comes up
// with the config of now, and picks a free loopback port for its /metrics,
// which the appliance's /metrics republishes.
func (c *child) command() *exec.Cmd {
	cfg := c.config()
	policy := filepath.Join(c.dir, policyFileName)
	rules := filepath.Join(c.dir, rulesFileName)
	args := []string{"--uplink", c.uplink, "--rack", c.rack, "--control", c.socket}
	if err := writeFile(policy, cfg.Policy); err != nil {
		c.log.Error("policy file not written; the dataplane starts with the shipped policy until it is pushed", "err", err)
	} else {
		args = append(args, "--config", policy)
	}
	if err := writeFile(rules, cfg.Rules); err != nil {
		c.log.Error("rules file not written; the rules are pushed once the dataplane answers", "err", err)
	} else {
		args = append(args, "--rules", rules)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		c.log.Error("no loopback port for the dataplane's metrics", "err", err)
	} else {
		args = append(args, "--metrics", addr)
	}
	// A stale socket from a killed dataplane would make the new one fail.
	os.Remove(c.socket)
	cmd := exec.Command(c.binary, args...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	// If the appliance dies, its dataplane goes with it: the next appliance
	// starts its own, and two would forward every frame twice.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.mu.Lock()
	c.cmd, c.metricsAddr = cmd, addr
	c.mu.Unlock()
	c.log.Info("starting dataplane", "binary", c.binary, "args", args)
	return cmd
}

// pid is the running dataplane's process id, 0 if none was started.
func (c *child) pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// metricsURL is where the running dataplane serves /metrics.
func (c *child) metricsURL() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.metricsAddr == "" {
		return ""
	}
	return "http://" + c.metricsAddr + "/metrics"
}

// signal sends sig to the running dataplane. SIGKILL is the drill for the
// fail-open bypass: the supervisor sees the exit as a crash.
func (c *child) signal(sig syscall.Signal) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil || c.cmd.Process == nil {
		return 0, errors.New("no dataplane is running")
	}
	pid := c.cmd.Process.Pid
	if err := c.cmd.Process.Signal(sig); err != nil {
		return pid, err
	}
	return pid, nil
}

// loopStale is how long a packet loop may go without progress: without
// finishing a batch of received frames or, on an idle link, a wait that
// found nothing. An idle loop finishes a wait every 100 ms and a batch
// under full load takes far less, so only a loop that is stuck (blocked in
// the kernel, deadlocked) goes this long. A flood keeps the loop busy, not
// stuck: killing the dataplane for it would hand the flood to the fail-open
// bridge.
const loopStale = 2 * time.Second

// probe passes while the dataplane answers on its control socket and both
// of its packet loops keep making progress. Idle links forward nothing, so
// a quiet last-forward time is no sign of trouble; a loop that has stopped
// is.
func probe(ctx context.Context, ctl *control.Client) error {
	st, err := ctl.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Health.Running {
		return errors.New("packet loop not running")
	}
	return loopsAlive(st.Health)
}

// loopsAlive judges each loop by the age of its last progress as the
// dataplane measured it on its monotonic clock, so a step of the wall clock
// cannot make a healthy loop look stuck.
func loopsAlive(h dataplane.Health) error {
	for _, p := range h.Ports {
		if p.LastProgress.IsZero() {
			return fmt.Errorf("packet loop of %s has not started", p.Name)
		}
		if p.ProgressAge > loopStale {
			return fmt.Errorf("packet loop of %s stuck: no progress for %v", p.Name, p.ProgressAge.Round(time.Millisecond))
		}
	}
	return nil
}

func writeFile(path, text string) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// freeLoopbackAddr returns a 127.0.0.1 address with a port nobody listens
// on right now.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), nil
}
