// Command rackwall-bundle builds signed update bundles and their keys.
//
//	rackwall-bundle keygen --out keys/dev
//	    writes keys/dev.key (private, 0600, never overwritten) and keys/dev.pub
//	rackwall-bundle --board qemu-amd64 --version 2 --key keys/dev.key --out out/qemu-amd64-2.bundle
//	    builds the slot's kernel, boot entry template and root file system
//	    for that version and signs them
//	rackwall-bundle --board qemu-amd64 --version 7 --min-version 7 …
//	    also sets a version floor: a box that has run this bundle's system
//	    never installs a version below 7 again, not even as an allowed
//	    downgrade (for a release that closes a hole the older ones have)
//	rackwall-bundle index --key keys/dev.key --channel stable --board qemu-amd64=out/qemu-amd64-2.bundle,https://… --out out/stable.index
//	    signs an update channel's index (docs/update-channel.md): version,
//	    size and SHA-256 of each board's bundle are read from the bundle
//
// The root file system of the bundle trusts the --pubkey files (default:
// the public half of --key), so the updated box accepts the next bundle.
//
// Two flags exist for testing fallbacks: --appliance-arg adds an argument
// to the appliance's command line (e.g. --dataplane=/missing, a system whose
// health check never passes) and --cmdline-extra appends to the kernel
// command line (e.g. init=/missing, a kernel that panics at boot).
package main

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
	"github.com/rackwall/rackwall/image/bundle"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "keygen":
		err = keygen(os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == "index":
		err = index(os.Args[2:])
	default:
		err = build(os.Args[1:])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwall-bundle:", err)
		os.Exit(1)
	}
}

func keygen(args []string) error {
	fs := flag.NewFlagSet("rackwall-bundle keygen", flag.ContinueOnError)
	out := fs.String("out", "keys/dev", "path prefix: writes PREFIX.key and PREFIX.pub")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o700); err != nil {
		return err
	}
	if err := bundle.GenerateKeys(*out+".key", *out+".pub"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s.key (keep it secret) and %s.pub (build images with --pubkey %s.pub)\n", *out, *out, *out)
	return nil
}

func build(args []string) error {
	fs := flag.NewFlagSet("rackwall-bundle", flag.ContinueOnError)
	var (
		board    = fs.String("board", "qemu-amd64", "board: "+strings.Join(boards.Names(), ", "))
		version  = fs.Int64("version", 0, "version of the bundle, a positive integer (required)")
		minVer   = fs.Int64("min-version", 0, "version floor: a box that ran this bundle never installs a version below it again (0 = none; at most --version)")
		keyFile  = fs.String("key", "keys/dev.key", "private signing key")
		out      = fs.String("out", "", "bundle file (default out/<board>-<version>.bundle)")
		epoch    = fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "build time in seconds since 1970 (default $SOURCE_DATE_EPOCH, else the commit time)")
		hostname = fs.String("hostname", "rackwall", "host name of the box")
		extra    = fs.String("cmdline-extra", "", "appended to the kernel command line (testing: init=/missing makes the kernel panic)")
		pubkeys  multiFlag
		appArgs  multiFlag
	)
	fs.Var(&pubkeys, "pubkey", "update public key file the new system trusts (repeatable; default: the public half of --key)")
	fs.Var(&appArgs, "appliance-arg", "extra argument for the appliance (repeatable; testing: --dataplane=/missing makes its health check fail)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *version <= 0 {
		return errors.New("--version must be a positive integer")
	}
	if *minVer < 0 || *minVer > *version {
		return fmt.Errorf("--min-version %d: want 0 to --version (%d); a floor above the bundle's own version would forbid the bundle itself", *minVer, *version)
	}
	b, err := boards.Lookup(*board)
	if err != nil {
		return err
	}
	key, err := bundle.LoadPrivateKey(*keyFile)
	if err != nil {
		return fmt.Errorf("signing key: %w (make one with: rackwall-bundle keygen --out keys/dev)", err)
	}
	sde, err := sourceDateEpoch(*epoch)
	if err != nil {
		return err
	}
	cfg := image.Config{
		Board:           b,
		Version:         strconv.FormatInt(*version, 10),
		SourceDateEpoch: sde,
		Hostname:        *hostname,
		UpdateKeys:      map[string][]byte{},
		Log:             os.Stderr,
	}
	if len(pubkeys) == 0 {
		pub := key.Public().(ed25519.PublicKey)
		name := strings.TrimSuffix(filepath.Base(*keyFile), ".key") + ".pub"
		cfg.UpdateKeys[name] = []byte("rackwall-ed25519-public " + base64.StdEncoding.EncodeToString(pub) + "\n")
	}
	for _, p := range pubkeys {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if _, err := bundle.LoadPublicKeys(p); err != nil {
			return err
		}
		cfg.UpdateKeys[filepath.Base(p)] = data
	}
	if len(appArgs) > 0 {
		cfg.Programs = image.DefaultPrograms(b)
		found := false
		for i, p := range cfg.Programs {
			if p.Name == "rackwall" && p.Dir == "/user" {
				cfg.Programs[i].Args = append(append([]string(nil), p.Args...), appArgs...)
				found = true
			}
		}
		if !found {
			return errors.New("no appliance program to pass --appliance-arg to")
		}
	}
	parts, err := image.BuildSlotParts(cfg, *extra)
	if err != nil {
		return err
	}
	if *out == "" {
		*out = filepath.Join("out", fmt.Sprintf("%s-%d.bundle", b.Name, *version))
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	src := func(name string, data []byte) bundle.Source {
		return bundle.Source{Name: name, Open: func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader(string(data))), nil }}
	}
	tmp := *out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	m := bundle.Manifest{Product: bundle.Product, Board: b.Name, Version: *version, MinVersion: *minVer, BuildTime: time.Unix(sde, 0).UTC()}
	if err := bundle.Write(f, m, key, []bundle.Source{
		src(bundle.PartKernel, parts.Kernel),
		src(bundle.PartEntry, []byte(parts.EntryTemplate)),
		src(bundle.PartRoot, parts.Root),
	}); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, *out); err != nil {
		return err
	}
	st, _ := os.Stat(*out)
	floor := ""
	if *minVer > 0 {
		floor = fmt.Sprintf(", minimum version %d", *minVer)
	}
	fmt.Fprintf(os.Stderr, "wrote %s (board %s, version %d%s, %d bytes)\n", *out, b.Name, *version, floor, st.Size())
	return nil
}

func sourceDateEpoch(s string) (int64, error) {
	if s == "" {
		out, err := exec.Command("git", "log", "-1", "--format=%ct").Output()
		if err != nil {
			return 0, fmt.Errorf("--source-date-epoch or SOURCE_DATE_EPOCH is required (no git commit time: %v)", err)
		}
		s = strings.TrimSpace(string(out))
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("source date epoch %q: %v", s, err)
	}
	return v, nil
}
