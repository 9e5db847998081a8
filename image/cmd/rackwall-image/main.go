// Command rackwall-image writes a bootable rackwall disk image for one board.
//
//	rackwall-image --board qemu-amd64 --version 1 --out out/qemu-amd64.img
//
// The build is reproducible: the same checkout, module versions, host files
// and --source-date-epoch (default: $SOURCE_DATE_EPOCH, else the commit time
// of the checkout) give the same bytes.
// An admin password, if given, changes that: its bcrypt hash has a random salt.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/rackwall/rackwall/boards"
	"github.com/rackwall/rackwall/image"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rackwall-image:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rackwall-image", flag.ContinueOnError)
	var (
		board    = fs.String("board", "qemu-amd64", "board to build for: "+strings.Join(boards.Names(), ", "))
		out      = fs.String("out", "", "image file to write (default out/<board>.img)")
		version  = fs.String("version", "", "version string recorded in the image (required)")
		epoch    = fs.String("source-date-epoch", os.Getenv("SOURCE_DATE_EPOCH"), "build time in seconds since 1970 (default $SOURCE_DATE_EPOCH)")
		pwFile   = fs.String("admin-password-file", "", "file whose first line is the initial admin password; only its bcrypt hash is stored")
		hostname = fs.String("hostname", "rackwall", "host name of the box")
		pubkeys  multiFlag
	)
	fs.Var(&pubkeys, "pubkey", "update signing public key file to trust (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	b, err := boards.Lookup(*board)
	if err != nil {
		return err
	}
	if *epoch == "" {
		// Default to the commit time of the checkout so that "make image"
		// twice on one commit gives the same bytes.
		out, err := exec.Command("git", "log", "-1", "--format=%ct").Output()
		if err != nil {
			return fmt.Errorf("--source-date-epoch or SOURCE_DATE_EPOCH is required (no git commit time: %v)", err)
		}
		*epoch = strings.TrimSpace(string(out))
	}
	sde, err := strconv.ParseInt(*epoch, 10, 64)
	if err != nil {
		return fmt.Errorf("source date epoch %q: %v", *epoch, err)
	}
	cfg := image.Config{
		Board:           b,
		Version:         *version,
		SourceDateEpoch: sde,
		Hostname:        *hostname,
		Log:             os.Stderr,
	}
	if *pwFile != "" {
		raw, err := os.ReadFile(*pwFile)
		if err != nil {
			return err
		}
		pw, _, _ := bytes.Cut(raw, []byte("\n"))
		pw = bytes.TrimRight(pw, "\r")
		if len(pw) < 8 {
			return fmt.Errorf("%s: the admin password must have at least 8 characters", *pwFile)
		}
		hash, err := bcrypt.GenerateFromPassword(pw, bcrypt.DefaultCost)
		if err != nil {
			return err
		}
		cfg.AdminPasswordHash = append(hash, '\n')
	}
	if len(pubkeys) > 0 {
		cfg.UpdateKeys = map[string][]byte{}
	}
	for _, p := range pubkeys {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		name := filepath.Base(p)
		if _, dup := cfg.UpdateKeys[name]; dup {
			return fmt.Errorf("two update keys named %s", name)
		}
		cfg.UpdateKeys[name] = data
	}
	if *out == "" {
		*out = filepath.Join("out", b.Name+".img")
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	return image.Build(cfg, *out)
}
