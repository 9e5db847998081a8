package control

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/rackwall/rackwall/dataplane"
)

// The control socket is the engine's whole API: nobody but its owner may
// connect to it, not even for the moment between its bind and a chmod. A
// watcher looks at the socket file as fast as it can while the server
// binds it again and again, with the process umask at 0 (the most a
// service manager could leave it at); it must never see the socket open
// to group or others.
func TestControlSocketIsNeverOpenToOthers(t *testing.T) {
	e, err := dataplane.New(dataplane.Config{UplinkPort: dataplane.NewMemPort("u"), RackPort: dataplane.NewMemPort("r")})
	if err != nil {
		t.Fatal(err)
	}
	saved := syscall.Umask(0)
	defer syscall.Umask(saved)

	path := filepath.Join(t.TempDir(), "control.sock")
	var (
		stop    atomic.Bool
		looks   atomic.Int64
		exposed atomic.Uint32 // the mode seen open to others, if any
		wg      sync.WaitGroup
	)
	wg.Go(func() {
		for !stop.Load() {
			if fi, err := os.Lstat(path); err == nil {
				looks.Add(1)
				if fi.Mode().Perm()&0o077 != 0 {
					exposed.Store(uint32(fi.Mode().Perm()))
				}
			}
		}
	})
	const binds = 3000
	for i := 0; i < binds && exposed.Load() == 0; i++ {
		srv := NewServer(e, nil)
		if err := srv.Listen(path); err != nil {
			stop.Store(true)
			wg.Wait()
			t.Fatal(err)
		}
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
			stop.Store(true)
			wg.Wait()
			t.Fatalf("right after Listen: %v, %v; want a socket with mode 0600", fi.Mode(), err)
		}
		srv.ln.Close() // removes the socket file
	}
	stop.Store(true)
	wg.Wait()
	if m := exposed.Load(); m != 0 {
		t.Fatalf("the socket was seen with mode %#o: others could connect before it was restricted", m)
	}
	if looks.Load() == 0 {
		t.Fatal("the watcher never saw the socket; the test proved nothing")
	}
	// Listen leaves the process umask as it found it.
	if now := syscall.Umask(0); now != 0 {
		t.Fatalf("umask after Listen is %#o, want the 0 it was", now)
	}
	t.Logf("%d looks at the socket over %d binds", looks.Load(), binds)
}
