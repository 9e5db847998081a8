package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
)

// Error is a refusal: the bundle is not installed, and Reason says why in
// words an operator can act on.
type Error struct{ Reason string }

func (e *Error) Error() string { return "update refused: " + e.Reason }

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Policy is what a box accepts.
type Policy struct {
	Board          string              // this box's board
	Keys           []ed25519.PublicKey // trusted signers
	RunningVersion int64
	AllowDowngrade bool // also permits reinstalling the running version
	// Floor is the lowest version this box may ever install again (the
	// highest MinVersion of the bundles it has run). Versions below it
	// are refused whatever AllowDowngrade says.
	Floor int64
}

// Reader reads a bundle whose header, manifest and signature have been
// checked against a Policy. Parts are then read in order with NextPart; each
// part's reader fails at its end if its size or hash is wrong.
type Reader struct {
	Manifest Manifest
	r        io.Reader
	next     int
	cur      *partReader
}

// Open reads and checks everything before the parts: magic, format,
// manifest, signature, product, board and version policy. Nothing of the
// parts has been read when it returns.
func Open(r io.Reader, pol Policy) (*Reader, error) {
	hdr := make([]byte, headerSize)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, refuse("not a rackwall bundle: too short (%v)", err)
	}
	if string(hdr[:8]) != magic {
		return nil, refuse("not a rackwall bundle: bad magic")
	}
	if v := binary.BigEndian.Uint32(hdr[8:]); v != formatVersion {
		return nil, refuse("bundle format %d is not supported (want %d)", v, formatVersion)
	}
	n := binary.BigEndian.Uint32(hdr[12:])
	if n == 0 || n > maxManifest {
		return nil, refuse("bundle manifest length %d out of range", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, refuse("bundle truncated in its manifest")
	}
	sig := make([]byte, ed25519.SignatureSize)
	if _, err := io.ReadFull(r, sig); err != nil {
		return nil, refuse("bundle truncated in its signature")
	}
	if len(pol.Keys) == 0 {
		return nil, refuse("this box trusts no update keys")
	}
	trusted := false
	for _, k := range pol.Keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, body, sig) {
			trusted = true
			break
		}
	}
	if !trusted {
		return nil, refuse("bad signature: the manifest is not signed by a key this box trusts")
	}
	var m Manifest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, refuse("bundle manifest is not valid: %v", err)
	}
	if err := m.Validate(); err != nil {
		return nil, refuse("%v", err)
	}
	if m.Board != pol.Board {
		return nil, refuse("bundle is for board %q, this box is %q", m.Board, pol.Board)
	}
	if m.Version < pol.Floor {
		return nil, refuse("bundle version %d is below this box's minimum version %d: a release it ran forbids going back below it, even as an allowed downgrade", m.Version, pol.Floor)
	}
	if !pol.AllowDowngrade && m.Version <= pol.RunningVersion {
		return nil, refuse("bundle version %d is not newer than the running version %d (downgrades need to be allowed explicitly)", m.Version, pol.RunningVersion)
	}
	return &Reader{Manifest: m, r: r}, nil
}

// NextPart returns the next part and a reader of exactly its bytes. The
// reader returns an *Error instead of io.EOF when the part is short or its
// hash is wrong, so a caller copying it somewhere learns before it commits.
// After the last part NextPart returns io.EOF, or an error if anything
// follows the last part.
func (b *Reader) NextPart() (Part, io.Reader, error) {
	if b.cur != nil && !b.cur.done {
		if _, err := io.Copy(io.Discard, b.cur); err != nil {
			return Part{}, nil, err
		}
	}
	if b.next == len(b.Manifest.Parts) {
		var one [1]byte
		if n, _ := io.ReadFull(b.r, one[:]); n != 0 {
			return Part{}, nil, refuse("bundle has bytes after its last part")
		}
		return Part{}, nil, io.EOF
	}
	p := b.Manifest.Parts[b.next]
	b.next++
	b.cur = &partReader{p: p, r: io.LimitReader(b.r, p.Size), h: sha256.New()}
	return p, b.cur, nil
}

type partReader struct {
	p    Part
	r    io.Reader
	h    hash.Hash
	n    int64
	done bool
}

func (pr *partReader) Read(buf []byte) (int, error) {
	if pr.done {
		return 0, io.EOF
	}
	n, err := pr.r.Read(buf)
	pr.n += int64(n)
	pr.h.Write(buf[:n])
	if errors.Is(err, io.EOF) {
		if pr.n != pr.p.Size {
			return n, refuse("bundle truncated: part %s has %d of %d bytes", pr.p.Name, pr.n, pr.p.Size)
		}
		if got := hex.EncodeToString(pr.h.Sum(nil)); got != pr.p.SHA256 {
			return n, refuse("part %s is corrupted: sha256 %s, manifest says %s", pr.p.Name, got, pr.p.SHA256)
		}
		pr.done = true
		return n, io.EOF
	}
	return n, err
}
