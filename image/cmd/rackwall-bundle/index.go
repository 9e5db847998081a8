package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/rackwall/rackwall/image/bundle"
	"github.com/rackwall/rackwall/image/channel"
)

// index signs a channel index from bundle files: each entry's version,
// size and SHA-256 come from the bundle itself, so the index cannot name a
// bundle other than the one published.
//
//	rackwall-bundle index --key keys/dev.key --channel stable --sequence 7 \
//	    --board qemu-amd64=out/qemu-amd64-2.bundle,https://updates.example.net/qemu-amd64-2.bundle \
//	    --rollout qemu-amd64=25 --out out/stable.index
func index(args []string) error {
	fs := flag.NewFlagSet("rackwall-bundle index", flag.ContinueOnError)
	var (
		keyFile  = fs.String("key", "keys/dev.key", "private signing key (the one the boxes' update keys trust)")
		name     = fs.String("channel", "", "channel name, e.g. stable (required)")
		sequence = fs.Int64("sequence", 0, "index sequence number; must rise with every index of the channel (default: the issue time in seconds since 1970)")
		baseURL  = fs.String("base-url", "", "https URL the bundle files are published under, for --board entries without their own URL")
		out      = fs.String("out", "", "index file to write (required)")
		boardsF  multiFlag
		rollouts multiFlag
	)
	fs.Var(&boardsF, "board", "BOARD=BUNDLE[,URL]: the bundle file for a board and the https URL it is served at (repeatable)")
	fs.Var(&rollouts, "rollout", "BOARD=PERCENT: share of that board's boxes (0 to 100) that install it (repeatable; default 100)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *name == "" || *out == "" || len(boardsF) == 0 {
		return errors.New("--channel, --out and at least one --board are required")
	}
	issued := time.Now().UTC().Truncate(time.Second)
	ix := channel.Index{Format: channel.FormatVersion, Channel: *name, Sequence: *sequence, Issued: issued}
	if ix.Sequence == 0 {
		ix.Sequence = issued.Unix()
	}
	percent := map[string]int{}
	for _, r := range rollouts {
		b, p, ok := strings.Cut(r, "=")
		n, err := strconv.Atoi(p)
		if !ok || err != nil || n < 0 || n > 100 {
			return fmt.Errorf("--rollout %q: want BOARD=PERCENT with a percent from 0 to 100", r)
		}
		percent[b] = n
	}
	for _, spec := range boardsF {
		e, err := indexEntry(spec, *baseURL)
		if err != nil {
			return fmt.Errorf("--board %q: %w", spec, err)
		}
		if p, ok := percent[e.Board]; ok {
			e.RolloutPercent = &p
			delete(percent, e.Board)
		}
		ix.Entries = append(ix.Entries, e)
	}
	for b := range percent {
		return fmt.Errorf("--rollout names board %q, which no --board lists", b)
	}
	key, err := bundle.LoadPrivateKey(*keyFile)
	if err != nil {
		return fmt.Errorf("signing key: %w", err)
	}
	data, err := channel.Sign(ix, key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, data); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (channel %s, sequence %d, %d boards)\n", *out, ix.Channel, ix.Sequence, len(ix.Entries))
	return nil
}

// indexEntry reads BOARD=BUNDLE[,URL]: the board must be the one the
// bundle was built for.
func indexEntry(spec, baseURL string) (channel.Entry, error) {
	board, rest, ok := strings.Cut(spec, "=")
	if !ok || board == "" || rest == "" {
		return channel.Entry{}, errors.New("want BOARD=BUNDLE[,URL]")
	}
	file, link, _ := strings.Cut(rest, ",")
	if link == "" {
		if baseURL == "" {
			return channel.Entry{}, errors.New("no URL: add ,URL or give --base-url")
		}
		u, err := url.Parse(baseURL)
		if err != nil {
			return channel.Entry{}, fmt.Errorf("--base-url: %v", err)
		}
		u.Path = path.Join(u.Path, filepath.Base(file))
		link = u.String()
	}
	f, err := os.Open(file)
	if err != nil {
		return channel.Entry{}, err
	}
	defer f.Close()
	m, err := bundle.PeekManifest(f)
	if err != nil {
		return channel.Entry{}, fmt.Errorf("%s: %w", file, err)
	}
	if m.Board != board {
		return channel.Entry{}, fmt.Errorf("%s is a bundle for board %s, not %s", file, m.Board, board)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return channel.Entry{}, err
	}
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return channel.Entry{}, err
	}
	return channel.Entry{Board: board, Version: m.Version, Size: n, SHA256: hex.EncodeToString(h.Sum(nil)), URL: link}, nil
}

func writeFileAtomic(name string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return err
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
