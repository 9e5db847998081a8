package update

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rackwall/rackwall/image/layout"
)

// HealthFunc says whether the box works: nil when the config is loaded,
// the dataplane forwards on both ports and the UI answers; otherwise an
// error saying what is wrong. The appliance supplies it.
type HealthFunc func(ctx context.Context) error

// DefaultHealthDeadline is how long a trial boot may take to become
// healthy.
const DefaultHealthDeadline = 120 * time.Second

// healthPoll is how often the health check is asked during a trial.
const healthPoll = 2 * time.Second

// BootReport is what AfterBoot found and did.
type BootReport struct {
	Running layout.Slot `json:"running"`
	Trial   bool        `json:"trial"`            // this boot was a trial of a new slot
	Blessed bool        `json:"blessed"`          // the running slot is (now) kept
	Reboot  bool        `json:"reboot"`           // the trial failed; the box reboots into the old slot
	Result  string      `json:"result,omitempty"` // the last update's result after this boot
	Reason  string      `json:"reason,omitempty"` // why, if it failed
}

// AfterBoot is called by the appliance once per boot, when its services
// are starting. On a trial boot it waits up to deadline (default
// DefaultHealthDeadline) for health to pass: then the slot is blessed; if it
// does not, the reason is recorded on /perm, the slot is rejected and the
// box reboots into the old slot. On a normal boot it notices a fallback
// from a failed update (and cleans up the failed slot's boot entry) and
// records the outcome. It returns when that is decided (a trial can take
// until the deadline).
func (a *Agent) AfterBoot(ctx context.Context, health HealthFunc, deadline time.Duration) (BootReport, error) {
	if deadline <= 0 {
		deadline = DefaultHealthDeadline
	}
	cmd, err := a.cfg.Machine.Cmdline()
	if err != nil {
		return BootReport{}, err
	}
	running, err := RunningSlot(cmd)
	if err != nil {
		return BootReport{}, err
	}
	var as Assessment
	if err := a.withBoot(func(bfs BootFS) error {
		var err error
		as, err = a.scheme.Assess(bfs, running)
		return err
	}); err != nil {
		return BootReport{}, err
	}
	a.mu.Lock()
	a.running, a.trial = running, as.Trial
	a.blessed = !as.Trial
	a.versions = map[layout.Slot]string{running: strconv.FormatInt(a.cfg.RunningVersion, 10)}
	if as.OtherPresent && !as.OtherBad && as.OtherVersion != "" {
		a.versions[Other(running)] = as.OtherVersion
	}
	last := a.last
	a.mu.Unlock()

	rep := BootReport{Running: running, Trial: as.Trial}
	if as.Trial {
		return a.judgeTrial(ctx, health, deadline, running, last, rep)
	}
	rep.Blessed = true
	if last == nil {
		return rep, nil
	}
	at := *last
	switch {
	case at.Slot == string(running) && at.Result == ResultTrying:
		// Blessed, but the box lost power before the record said so.
		now := a.cfg.Now()
		at.Result, at.Finished = ResultSuccess, &now
		a.raiseFloorFor(at)
		a.saveAttempt(at)
	case at.Slot == string(Other(running)) && (at.Result == ResultTrying || at.Result == ResultInstalling || at.Result == ResultFailed):
		if boot, err := a.cfg.Machine.BootID(); at.Result == ResultTrying && err == nil && boot == at.ArmedBoot {
			// Armed in this very boot and not rebooted yet: nothing to
			// judge. (The Pi's tryboot.txt stays after a failed try, so
			// the boot partition alone cannot tell.)
			break
		}
		now := a.cfg.Now()
		if at.Result == ResultTrying {
			a.noteFellBack(at.Version)
			at.Reason = fmt.Sprintf("slot %s (version %d) never passed its trial boot; the boot loader fell back to slot %s (its tries ran out: the kernel or init failed before the health check could run)",
				at.Slot, at.Version, running)
		} else if at.Result == ResultInstalling {
			at.Reason = fmt.Sprintf("writing slot %s (version %d) was interrupted (power loss or crash); slot %s kept running", at.Slot, at.Version, running)
		}
		if at.Result != ResultFailed || at.Finished == nil {
			at.Finished = &now
			at.DurationS = now.Sub(at.Started).Seconds()
		}
		at.Result = ResultFailed
		a.saveAttempt(at)
		// The failed slot's entry and kernel go, so nothing boots it again
		// and the next update starts from a clean boot partition.
		if err := a.withBoot(func(bfs BootFS) error { return a.scheme.Disarm(bfs, Other(running)) }); err != nil {
			a.cfg.Logger.Error("update: removing the failed slot's boot entry", "err", err)
		}
		a.mu.Lock()
		delete(a.versions, Other(running))
		a.mu.Unlock()
	}
	a.mu.Lock()
	if a.last != nil {
		rep.Result, rep.Reason = a.last.Result, a.last.Reason
	}
	a.mu.Unlock()
	return rep, nil
}

func (a *Agent) judgeTrial(ctx context.Context, health HealthFunc, deadline time.Duration, running layout.Slot, last *Attempt, rep BootReport) (BootReport, error) {
	at := Attempt{Result: ResultTrying, Slot: string(running), Version: a.cfg.RunningVersion, Started: a.cfg.Now()}
	if last != nil && last.Slot == string(running) {
		at = *last
	}
	hctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var lastErr error
	for {
		lastErr = health(hctx)
		a.mu.Lock()
		if lastErr == nil {
			a.health = "healthy"
		} else {
			a.health = lastErr.Error()
		}
		a.mu.Unlock()
		if lastErr == nil {
			break
		}
		select {
		case <-hctx.Done():
		case <-time.After(healthPoll):
			continue
		}
		break
	}
	if ctx.Err() != nil {
		// The appliance is shutting down: decide nothing; the counter
		// keeps counting on the next boot.
		return rep, ctx.Err()
	}
	now := a.cfg.Now()
	if lastErr == nil {
		if err := a.withBoot(func(bfs BootFS) error { return a.scheme.Bless(bfs, running) }); err != nil {
			return rep, fmt.Errorf("blessing slot %s: %w", running, err)
		}
		at.Result, at.Reason, at.Finished = ResultSuccess, "", &now
		at.DurationS = now.Sub(at.Started).Seconds()
		a.raiseFloorFor(at)
		a.saveAttempt(at)
		a.mu.Lock()
		a.blessed = true
		a.mu.Unlock()
		a.cfg.Logger.Info("update: slot blessed", "slot", running, "version", a.cfg.RunningVersion)
		rep.Blessed, rep.Result = true, ResultSuccess
		return rep, nil
	}
	// Remembered before the record says failed: a power cut in between
	// must not leave a failed version a channel would offer again.
	a.noteFellBack(a.cfg.RunningVersion)
	at.Result, at.Finished = ResultFailed, &now
	at.Reason = fmt.Sprintf("slot %s (version %d) failed its health check within %s: %v; falling back to slot %s",
		running, a.cfg.RunningVersion, deadline, lastErr, Other(running))
	at.DurationS = now.Sub(at.Started).Seconds()
	a.saveAttempt(at)
	if err := a.withBoot(func(bfs BootFS) error { return a.scheme.Reject(bfs, running) }); err != nil {
		// Without the rename the remaining tries still run out.
		a.cfg.Logger.Error("update: rejecting the trial slot", "err", err)
	}
	a.cfg.Logger.Error("update: trial failed; rebooting into the old slot", "reason", at.Reason)
	rep.Reboot, rep.Result, rep.Reason = true, ResultFailed, at.Reason
	a.rebootSoon("")
	return rep, nil
}

// raiseFloorFor takes on the floor of a blessed attempt, if the attempt is
// the system that runs (the record could be older than this slot's
// contents if its write was lost).
func (a *Agent) raiseFloorFor(at Attempt) {
	if at.Version == a.cfg.RunningVersion {
		a.raiseFloor(at.MinVersion, at.Version)
	}
}
