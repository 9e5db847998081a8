// Command rackwall-update pushes a signed update bundle to a box and
// follows it until the box runs the new version and has blessed it.
//
//	rackwall-update --box https://10.0.0.2 --fingerprint SHA256 --token-file token.txt out/qemu-amd64-2.bundle
//	rackwall-update --box https://10.0.0.2 --fingerprint SHA256 --password-file pw.txt out/qemu-amd64-2.bundle
//
// It authenticates with an API token (made on the System page) or logs in
// with the admin password, uploads the bundle with a progress display,
// waits for the box to reboot and come back, and polls /api/update/status.
// It exits 0 only when the new version runs and is blessed; otherwise it
// prints the box's reason and exits 1.
//
// --fingerprint pins the box's certificate by the SHA-256 the box prints on
// its console; --insecure, which trusts any certificate, is for labs.
package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rackwall/rackwall/image/bundle"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "rackwall-update:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("rackwall-update", flag.ContinueOnError)
	var (
		box         = fs.String("box", "", "the box's UI address, e.g. https://10.0.0.2")
		pwFile      = fs.String("password-file", "", "file whose first line is the admin password")
		tokenFile   = fs.String("token-file", "", "file whose first line is an API token (instead of --password-file)")
		insecure    = fs.Bool("insecure", false, "do not verify the box's TLS certificate")
		fingerprint = fs.String("fingerprint", "", "accept only this certificate: SHA-256 of its DER bytes, hex (colons allowed)")
		downgrade   = fs.Bool("allow-downgrade", false, "permit a version not newer than the running one")
		timeout     = fs.Duration("timeout", 20*time.Minute, "give up after this long")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *box == "" || *pwFile == "" && *tokenFile == "" {
		return errors.New("usage: rackwall-update --box URL (--token-file FILE | --password-file FILE) [--fingerprint SHA256 | --insecure] [--allow-downgrade] BUNDLE")
	}
	// A token and the password together make sense only for a downgrade:
	// the token signs in, the password confirms the downgrade (the box
	// never accepts a downgrade on a token alone).
	if *pwFile != "" && *tokenFile != "" && !*downgrade {
		return errors.New("--token-file and --password-file exclude each other (both only with --allow-downgrade)")
	}
	if *downgrade && *pwFile == "" {
		return errors.New("--allow-downgrade needs --password-file: the box asks for the admin password to confirm a downgrade")
	}
	if *insecure && *fingerprint != "" {
		return errors.New("--insecure and --fingerprint exclude each other")
	}
	var cred credentials
	var err error
	if *tokenFile != "" {
		if cred.token, err = firstLine(*tokenFile); err != nil {
			return err
		}
		cred.token = strings.TrimSpace(cred.token)
	}
	if *pwFile != "" {
		if cred.password, err = firstLine(*pwFile); err != nil {
			return err
		}
	}
	bundlePath := fs.Arg(0)
	version, err := bundleVersion(bundlePath)
	if err != nil {
		return err
	}
	tlsCfg, err := tlsConfig(*insecure, *fingerprint)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := newClient(strings.TrimRight(*box, "/"), cred, tlsCfg)
	return push(ctx, c, bundlePath, version, *downgrade, os.Stdout)
}

// firstLine is the secret in the first line of a file.
func firstLine(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%s: the first line is empty", path)
	}
	return line, nil
}

// bundleVersion reads the version from the manifest (unverified: the box
// verifies; this is only to know what to wait for).
func bundleVersion(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	m, err := bundle.PeekManifest(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return m.Version, nil
}

func tlsConfig(insecure bool, fingerprint string) (*tls.Config, error) {
	if fingerprint == "" {
		return &tls.Config{InsecureSkipVerify: insecure}, nil
	}
	want, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(fingerprint), ":", ""))
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("--fingerprint %q: want 64 hex digits", fingerprint)
	}
	return &tls.Config{
		// The chain is not verified against CAs: the pinned fingerprint is
		// the trust anchor (boxes use self-signed certificates).
		InsecureSkipVerify: true,
		VerifyPeerCertificate: func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
			if len(rawCerts) == 0 {
				return errors.New("the box sent no certificate")
			}
			got := sha256.Sum256(rawCerts[0])
			if string(got[:]) != string(want) {
				return fmt.Errorf("certificate fingerprint %x does not match --fingerprint", got)
			}
			return nil
		},
	}, nil
}

// push uploads and follows the update.
func push(ctx context.Context, c *client, path string, version int64, downgrade bool, out io.Writer) error {
	if err := c.login(ctx); err != nil {
		return err
	}
	before, err := c.status(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "box runs version %d (slot %s); pushing version %d\n", before.RunningVersion, before.Running, version)
	start := time.Now()
	if err := c.upload(ctx, path, downgrade, out); err != nil {
		return err
	}
	fmt.Fprintf(out, "uploaded and written in %s; the box reboots into the new slot\n", time.Since(start).Round(time.Second))
	if err := c.waitDown(ctx, before); err != nil {
		return err
	}
	fmt.Fprintln(out, "box is down; waiting for it to come back")
	lastHealth := "-"
	for {
		st, err := c.statusRelogin(ctx)
		if err == nil {
			switch {
			case st.RunningVersion == version && st.Blessed && st.Last != nil && st.Last.Result == "success":
				fmt.Fprintf(out, "box runs version %d on slot %s, blessed; upload to blessed took %s\n",
					version, st.Running, time.Since(start).Round(time.Second))
				return nil
			case st.Last != nil && st.Last.Version == version && (st.Last.Result == "failed" || st.Last.Result == "refused"):
				return fmt.Errorf("update to version %d failed after %s; the box runs version %d on slot %s: %s",
					version, time.Since(start).Round(time.Second), st.RunningVersion, st.Running, st.Last.Reason)
			case st.RunningVersion == version && st.Health != lastHealth:
				lastHealth = st.Health
				fmt.Fprintf(out, "box runs version %d on trial; health: %s\n", version, st.Health)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up after %s waiting for version %d to be blessed", time.Since(start).Round(time.Second), version)
		case <-time.After(3 * time.Second):
		}
	}
}
