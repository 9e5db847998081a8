package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

func isRoot() bool { return os.Geteuid() == 0 }

// command builds the exec.Cmd that runs args in namespace ns ("" is the
// namespace the test runs in).
func command(ctx context.Context, ns string, args ...string) *exec.Cmd {
	if ns != "" {
		args = append([]string{"ip", "netns", "exec", ns}, args...)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return exec.CommandContext(ctx, args[0], args[1:]...)
}

// Exec runs a command in a namespace and returns its combined output. The
// error names the command and carries its output, so a test can report it
// as is.
func (l *Lab) Exec(ns string, args ...string) ([]byte, error) {
	return l.ExecTimeout(2*time.Minute, ns, args...)
}

// ExecStdin is Exec with stdin fed from a string (nft -f -, scripts).
func (l *Lab) ExecStdin(ns, stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, ns, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	l.logf("[%s] %s <<stdin", nsLabel(ns), strings.Join(args, " "))
	if err != nil {
		return out.Bytes(), fmt.Errorf("[%s] %s: %w: %s", nsLabel(ns), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

func lookPath(tool string) (string, error) {
	p, err := exec.LookPath(tool)
	if err != nil {
		return "", fmt.Errorf("%w: %s not found", ErrUnavailable, tool)
	}
	return p, nil
}

// ExecTimeout is Exec with a deadline after which the command is killed.
func (l *Lab) ExecTimeout(d time.Duration, ns string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return runIn(ctx, l.logf, ns, args...)
}

func runIn(ctx context.Context, logf func(string, ...any), ns string, args ...string) ([]byte, error) {
	cmd := command(ctx, ns, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	if logf != nil {
		logf("[%s] %s", nsLabel(ns), strings.Join(args, " "))
	}
	if err != nil {
		return out.Bytes(), fmt.Errorf("[%s] %s: %w: %s", nsLabel(ns), strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return out.Bytes(), nil
}

// run is runIn for the lab's own setup commands.
func (l *Lab) run(ns string, args ...string) error {
	_, err := l.ExecTimeout(30*time.Second, ns, args...)
	return err
}

func nsLabel(ns string) string {
	if ns == "" {
		return "host"
	}
	return ns
}

// Proc is a background process the lab started. The lab stops it on Close.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{}
	err  error
	once sync.Once
	// forwarder marks the process forwarding as the box (the dataplane or
	// another forwarder), which ResetBox stops.
	forwarder bool
	// logPath holds the output of a persistent process.
	logPath string
}

// Start runs a command in a namespace in the background. Its output is kept
// (Output) and it is killed when the lab closes, or by Stop.
func (l *Lab) Start(ns string, args ...string) (*Proc, error) {
	cmd := command(nil, ns, args...)
	buf := &SyncBuffer{}
	var logFile *os.File
	if l.persistent {
		// A pipe would break when this program exits; a file does not.
		var err error
		logFile, err = os.CreateTemp(l.workDir, filepath.Base(args[0])+"-*.log")
		if err != nil {
			return nil, err
		}
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	} else {
		cmd.Stdout = buf
		cmd.Stderr = buf
		// Its own process group, so Stop reaches children; killed with the
		// test binary if that dies without cleaning up.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	}
	l.logf("[%s] start %s", nsLabel(ns), strings.Join(args, " "))
	err := cmd.Start()
	if logFile != nil {
		logFile.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("[%s] start %s: %w", nsLabel(ns), strings.Join(args, " "), err)
	}
	p := &Proc{Name: args[0], cmd: cmd, out: buf, done: make(chan struct{})}
	if logFile != nil {
		p.logPath = logFile.Name()
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	closed := l.closed
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	if closed {
		p.Stop()
		return nil, errors.New("lab: closed")
	}
	return p, nil
}

// PID is the process id (of `ip netns exec`, which execs the command, so it
// is the command's pid).
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Output returns everything the process wrote so far.
func (p *Proc) Output() string {
	if p.logPath != "" {
		b, _ := os.ReadFile(p.logPath)
		return string(b)
	}
	return p.out.String()
}

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited, and its error if so.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// Wait waits up to d for the process to exit on its own.
func (p *Proc) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		return fmt.Errorf("%s: still running after %s", p.Name, d)
	}
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Stop ends the process: SIGTERM, then SIGKILL after two seconds.
func (p *Proc) Stop() {
	p.once.Do(func() {
		select {
		case <-p.done:
			return
		default:
		}
		p.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
			p.Signal(syscall.SIGKILL)
			<-p.done
		}
	})
}

// SyncBuffer is a bytes.Buffer safe for a process writing while a test
// reads (a child process's output, a browser's log).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var _ io.Writer = (*SyncBuffer)(nil)
