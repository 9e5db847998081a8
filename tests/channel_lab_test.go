package tests

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/appliance/update"
	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/channel"
	"github.com/rackwall/rackwall/image/layout"
	"github.com/rackwall/rackwall/tests/lab"
)

// channelBoxArg introduces the state folder of the box process that
// TestChannelLab starts in the lab (the test binary, run again).
const channelBoxArg = "channel-box="

// TestChannelLab follows an update channel across the rack lab: a TLS
// server on a lab host serves a signed index and a bundle, and a box
// process in another namespace (the update agent with its production
// fetcher: no loopback allowance, only the lab CA added to its roots)
// checks the channel. The newer version is written to the spare slot and
// armed for a trial boot, as a pushed update would be; a replayed older
// index and a version outside the rollout are refused with their reasons
// and change nothing.
func TestChannelLab(t *testing.T) {
	l := newLab(t, 1)
	if err := l.UseKernelBridge(); err != nil {
		t.Fatal(err)
	}
	keys := newUpdateKeys(t)
	dir := t.TempDir()
	box := newChannelBoxDir(t, dir, keys.pubTxt)

	host := lab.ServerV4(1).String()
	srv := newLabTLSServer(t, l, l.Server(1), host+":443", filepath.Join(dir, "ca.pem"))
	root := bytes.Repeat([]byte("rack lab root v6 "), 30000)
	b := channelTestBundle(t, keys.priv, 6, root)
	sum := sha256.Sum256(b)
	srv.put("/qemu-amd64-6.bundle", b)
	entry := channel.Entry{Board: "qemu-amd64", Version: 6, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]),
		URL: "https://" + host + "/qemu-amd64-6.bundle"}
	publish := func(seq int64, e channel.Entry) {
		data, err := channel.Sign(channel.Index{Format: channel.FormatVersion, Channel: "stable", Sequence: seq,
			Issued: time.Now().UTC(), Entries: []channel.Entry{e}}, keys.priv)
		if err != nil {
			t.Fatal(err)
		}
		srv.put("/stable.index", data)
	}
	check := func() update.ChannelCheck {
		t.Helper()
		out, err := l.ExecTimeout(2*time.Minute, l.ClientNS, os.Args[0], "-test.run=^TestChannelLabBox$", "-test.count=1",
			channelBoxArg+box)
		if err != nil {
			t.Fatalf("box process: %v", err)
		}
		_, js, ok := strings.Cut(string(out), "CHECK ")
		var chk update.ChannelCheck
		if !ok || json.Unmarshal([]byte(strings.SplitN(js, "\n", 2)[0]), &chk) != nil {
			t.Fatalf("box process printed no check:\n%s", out)
		}
		return chk
	}
	slotB := filepath.Join(box, "slot-b")
	before := fileSum(t, slotB)

	// Outside the rollout: refused, nothing written.
	zero := 0
	outside := entry
	outside.RolloutPercent = &zero
	publish(5, outside)
	if chk := check(); chk.Outcome != update.ChannelRefused || !strings.Contains(chk.Reason, "outside the 0 % rollout") {
		t.Fatalf("rollout 0: %+v", chk)
	}
	if fileSum(t, slotB) != before {
		t.Fatal("a refused check wrote slot b")
	}
	// A replay of an older index: refused, nothing written.
	publish(4, entry)
	if chk := check(); chk.Outcome != update.ChannelRefused || !strings.Contains(chk.Reason, "older than sequence 5") {
		t.Fatalf("replayed index: %+v", chk)
	}
	if fileSum(t, slotB) != before {
		t.Fatal("a replayed index wrote slot b")
	}
	// The newer index: installed, armed, the box reboots into it.
	publish(6, entry)
	chk := check()
	if chk.Outcome != update.ChannelInstalled || chk.Version != 6 || chk.Sequence != 6 {
		t.Fatalf("newer index: %+v", chk)
	}
	got, err := os.ReadFile(slotB)
	if err != nil || !bytes.Equal(got[:len(root)], root) {
		t.Fatal("slot b does not hold the channel's root")
	}
	es, err := update.ReadEntries(update.DirFS(filepath.Join(box, "boot")))
	if err != nil || len(es) == 0 || es[0].Name.Slot != layout.SlotB || !es[0].Name.Trial() || es[0].Version != "6" {
		t.Fatalf("boot entries after the install: %+v, %v", es, err)
	}
	if _, err := os.Stat(filepath.Join(box, "rebooted")); err != nil {
		t.Fatal("the box did not reboot into the update")
	}
	if n := srv.count("/qemu-amd64-6.bundle"); n != 1 {
		t.Fatalf("the bundle was downloaded %d times, want once (refusals come before the download)", n)
	}
}

// TestChannelLabBox is the box process of TestChannelLab: it runs only when
// started by it, inside a lab namespace.
func TestChannelLabBox(t *testing.T) {
	var dir string
	for _, a := range flag.Args() {
		if v, ok := strings.CutPrefix(a, channelBoxArg); ok {
			dir = v
		}
	}
	if dir == "" {
		t.Skip("runs only as the box process TestChannelLab starts")
	}
	board, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := bundle.LoadPublicKeys(filepath.Join(dir, "update.pub"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "..", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate")
	}
	m := &fileMachine{dir: dir, board: board, rebooted: make(chan struct{})}
	a, err := update.New(update.Config{Board: board, Keys: keys, RunningVersion: 5, StateDir: filepath.Join(dir, "perm"),
		Machine: m, RebootDelay: time.Millisecond, Fetcher: &update.Fetcher{RootCAs: roots},
		Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.AfterBoot(context.Background(), func(context.Context) error { return nil }, time.Second); err != nil {
		t.Fatal(err)
	}
	a.SetChannel(update.ChannelSettings{URL: "https://" + lab.ServerV4(1).String() + "/stable.index", Interval: time.Hour})
	chk := a.CheckChannel(context.Background())
	if chk.Outcome == update.ChannelInstalled {
		select {
		case <-m.rebooted:
		case <-time.After(10 * time.Second):
			t.Fatal("installed but no reboot")
		}
	}
	js, _ := json.Marshal(chk)
	fmt.Printf("CHECK %s\n", js)
}

// fileMachine is a box whose slots are files and whose boot partition is a
// folder; a reboot leaves a file behind.
type fileMachine struct {
	dir      string
	board    boards.Board
	once     sync.Once
	rebooted chan struct{}
}

func (m *fileMachine) Cmdline() (string, error) {
	l, err := layout.New(m.board)
	if err != nil {
		return "", err
	}
	return layout.KernelCmdline(m.board, l, layout.SlotA), nil
}
func (m *fileMachine) SlotDevice(s layout.Slot) (string, error) {
	return filepath.Join(m.dir, "slot-"+string(s)), nil
}
func (m *fileMachine) MountBoot() (string, func() error, error) {
	return filepath.Join(m.dir, "boot"), func() error { return nil }, nil
}
func (m *fileMachine) BootID() (string, error) { return "lab-boot", nil }
func (m *fileMachine) Reboot(string) error {
	m.once.Do(func() {
		os.WriteFile(filepath.Join(m.dir, "rebooted"), nil, 0o644)
		close(m.rebooted)
	})
	return nil
}

// newChannelBoxDir lays out a factory-fresh box running slot a: the boot
// partition's files, two slot files, the trusted key (its public key
// file's text).
func newChannelBoxDir(t *testing.T, parent string, pubTxt []byte) string {
	t.Helper()
	board, err := boards.Lookup("qemu-amd64")
	if err != nil {
		t.Fatal(err)
	}
	l, err := layout.New(board)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parent, "box")
	boot := update.DirFS(filepath.Join(dir, "boot"))
	for name, data := range map[string]string{
		layout.KernelPath(board, layout.SlotA):  "kernel v5",
		layout.LoaderConf:                       layout.LoaderConfig(),
		layout.LoaderEntryPath(layout.SlotA, 0): layout.LoaderEntry(board, l, layout.SlotA, "5"),
	} {
		if err := boot.WriteFile(name, []byte(data)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []string{"a", "b"} {
		if err := os.WriteFile(filepath.Join(dir, "slot-"+s), make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "update.pub"), pubTxt, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// channelTestBundle is a version of the qemu-amd64 board with root as its
// root, signed with key.
func channelTestBundle(t *testing.T, key ed25519.PrivateKey, version int64, root []byte) []byte {
	t.Helper()
	board, _ := boards.Lookup("qemu-amd64")
	tmpl, err := layout.SlotEntryTemplate(board, fmt.Sprint(version), "")
	if err != nil {
		t.Fatal(err)
	}
	return signBundle(t, key, board.Name, version, []byte(fmt.Sprintf("kernel v%d", version)), tmpl, root)
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// labTLSServer serves files over TLS from a lab namespace, with a
// certificate for its address signed by a CA made for the test.
type labTLSServer struct {
	mu    sync.Mutex
	files map[string][]byte
	hits  map[string]int
}

func (s *labTLSServer) put(path string, b []byte) {
	s.mu.Lock()
	s.files[path] = b
	s.mu.Unlock()
}

func (s *labTLSServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func newLabTLSServer(t *testing.T, l *lab.Lab, ns, addr, caFile string) *labTLSServer {
	t.Helper()
	host, _, _ := net.SplitHostPort(addr)
	caPEM, cert := testServerCert(t, host)
	if err := os.WriteFile(caFile, caPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	if err := lab.InNamespace(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return serveFilesTLS(t, ln, cert)
}

// serveFilesTLS serves a labTLSServer's files on ln until the test ends.
func serveFilesTLS(t *testing.T, ln net.Listener, cert tls.Certificate) *labTLSServer {
	s := &labTLSServer{files: map[string][]byte{}, hits: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		b, ok := s.files[r.URL.Path]
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return s
}

// testServerCert makes a CA for the test (returned as PEM) and a server
// certificate it signs for the IP address host.
func testServerCert(t *testing.T, host string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rackwall test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IPAddresses: []net.IP{net.ParseIP(host)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}
}
