package lab

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func newLab(t *testing.T, opts Options) *Lab {
	t.Helper()
	l, err := NewFor(t, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func namespaceExists(t *testing.T, ns string) bool {
	t.Helper()
	_, err := os.Stat(filepath.Join("/var/run/netns", ns))
	return err == nil
}

func TestKernelBridgeConnectsClientAndServers(t *testing.T) {
	l := newLab(t, Options{})
	if err := l.UseKernelBridge(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= len(l.ServerNS); i++ {
		if out, err := l.Exec(l.ClientNS, "ping", "-c", "1", "-W", "2", ServerV4(i).String()); err != nil {
			t.Errorf("ping s%d: %v\n%s", i, err, out)
		}
		if out, err := l.Exec(l.ClientNS, "ping", "-6", "-c", "1", "-W", "2", ServerV6(i).String()); err != nil {
			t.Errorf("ping -6 s%d: %v\n%s", i, err, out)
		}
	}
}

func TestCloseRemovesNamespacesAndProcesses(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	l, err := Build(Options{Servers: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	p, err := l.Start(l.ClientNS, "sleep", "600")
	if err != nil {
		l.Close()
		t.Fatal(err)
	}
	for _, ns := range l.Namespaces() {
		if !namespaceExists(t, ns) {
			t.Errorf("namespace %s missing while the lab is up", ns)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if done, _ := p.Exited(); !done {
		t.Error("background process still running after Close")
	}
	for _, ns := range l.Namespaces() {
		if namespaceExists(t, ns) {
			t.Errorf("namespace %s left behind after Close", ns)
		}
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStateTeardownRemovesDetachedLab(t *testing.T) {
	if err := Available(); err != nil {
		t.Skip(err.Error())
	}
	l, err := Build(Options{Servers: 1, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if _, err := l.Start(l.BoxNS, "sleep", "600"); err != nil {
		t.Fatal(err)
	}
	st := l.Detach()
	if len(st.PIDs) != 1 {
		t.Fatalf("state records %d pids, want 1", len(st.PIDs))
	}
	path := filepath.Join(t.TempDir(), "lab.json")
	if err := WriteState(path, st); err != nil {
		t.Fatal(err)
	}
	back, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := Teardown(back, t.Logf); err != nil {
		t.Fatal(err)
	}
	for _, ns := range st.Namespaces {
		if namespaceExists(t, ns) {
			t.Errorf("namespace %s left behind after Teardown", ns)
		}
	}
}

func TestReadStateRefusesForeignNamespaces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lab.json")
	if err := WriteState(path, State{ID: "abc123", Namespaces: []string{"rw-abc123-box", "production"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadState(path); err == nil || !strings.Contains(err.Error(), "production") {
		t.Fatalf("ReadState accepted a namespace the lab did not make: %v", err)
	}
}

// wire copies frames between two tap devices the way a VM bridging its two
// NICs would.
func wire(a, b *os.File, wg *sync.WaitGroup) {
	defer wg.Done()
	buf := make([]byte, 65536)
	for {
		n, err := a.Read(buf)
		if err != nil {
			return
		}
		if _, err := b.Write(buf[:n]); err != nil && !errors.Is(err, os.ErrClosed) {
			continue
		}
	}
}

func TestTapsCarryTrafficThroughAVMStandIn(t *testing.T) {
	l := newLab(t, Options{Servers: 1})
	up, rack, err := l.UseTaps()
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Join(l.QemuNetdevArgs(), " ")
	if !strings.Contains(args, "ifname="+up) || !strings.Contains(args, "ifname="+rack) {
		t.Errorf("qemu args %q do not name both taps", args)
	}
	// Without a VM nothing crosses.
	if _, err := l.ExecTimeout(5*time.Second, l.ClientNS, "ping", "-c", "1", "-W", "1", ServerV4(1).String()); err == nil {
		t.Fatal("ping crossed the box with nothing attached to the taps")
	}
	fu, err := OpenTap(l.BoxNS, up)
	if err != nil {
		t.Fatal(err)
	}
	fr, err := OpenTap(l.BoxNS, rack)
	if err != nil {
		fu.Close()
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(2)
	go wire(fu, fr, &wg)
	go wire(fr, fu, &wg)
	defer func() {
		fu.Close()
		fr.Close()
		wg.Wait()
	}()
	if err := l.WaitForwarding(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if out, err := l.Exec(l.ClientNS, "ping", "-6", "-c", "2", "-W", "2", ServerV6(1).String()); err != nil {
		t.Fatalf("ping -6 through the taps: %v\n%s", err, out)
	}
}
