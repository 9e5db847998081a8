// Package bundle is the signed update bundle: one file holding a manifest
// (product, board, version, build time, and the size and SHA-256 of every
// part), an ed25519 signature over the manifest, and the parts themselves.
//
// The layout lets a box verify everything that matters before it writes a
// byte to a slot:
//
//	"RWBUNDLE" (8 bytes) | format version (u32 BE) | manifest length (u32 BE)
//	| manifest (JSON) | signature (64 bytes, ed25519 over the manifest bytes)
//	| part 1 | part 2 | …  (in manifest order, exactly the sizes it states)
//
// Nothing follows the last part. The signature covers the manifest only; the
// manifest pins every part by size and hash, so the parts are covered too.
package bundle

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// Product is the only product a rackwall box accepts.
const Product = "rackwall"

const (
	magic         = "RWBUNDLE"
	formatVersion = 1
	// maxManifest bounds what a reader buffers before it can check a signature.
	maxManifest = 64 << 10
	headerSize  = len(magic) + 4 + 4
)

// Part names. A bundle for a UEFI board carries the kernel, the slot's boot
// loader entry template and the root file system.
const (
	PartKernel = "kernel"
	PartEntry  = "boot-entry"
	PartRoot   = "root"
)

// Part is one file in the bundle.
type Part struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"` // lowercase hex
}

// Manifest describes a bundle. Version is a positive integer so that "newer"
// has one meaning.
//
// MinVersion is the version floor this bundle sets: a box that has run this
// bundle's system never installs a version below MinVersion again, with or
// without an explicit downgrade. It lets a release that fixes a hole shut
// the door to the releases that have it. Being in the manifest, it is
// covered by the signature; 0 sets no floor.
type Manifest struct {
	Product    string    `json:"product"`
	Board      string    `json:"board"`
	Version    int64     `json:"version"`
	MinVersion int64     `json:"min_version,omitempty"`
	BuildTime  time.Time `json:"build_time"`
	Parts      []Part    `json:"parts"`
}

var (
	partName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)
	hexHash  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// Validate checks the manifest's own consistency.
func (m *Manifest) Validate() error {
	if m.Product != Product {
		return fmt.Errorf("bundle is for product %q, not %q", m.Product, Product)
	}
	if m.Board == "" {
		return errors.New("bundle names no board")
	}
	if m.Version <= 0 {
		return fmt.Errorf("bundle version %d: want a positive number", m.Version)
	}
	if m.MinVersion < 0 || m.MinVersion > m.Version {
		// A floor above its own version would forbid the bundle itself.
		return fmt.Errorf("bundle minimum version %d: want 0 to the bundle's version %d", m.MinVersion, m.Version)
	}
	if len(m.Parts) == 0 || len(m.Parts) > 16 {
		return fmt.Errorf("bundle has %d parts: want 1 to 16", len(m.Parts))
	}
	seen := map[string]bool{}
	for _, p := range m.Parts {
		if !partName.MatchString(p.Name) {
			return fmt.Errorf("bundle part name %q is not valid", p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("bundle part %q appears twice", p.Name)
		}
		seen[p.Name] = true
		if p.Size < 0 || p.Size > 4<<30 {
			return fmt.Errorf("bundle part %q: size %d out of range", p.Name, p.Size)
		}
		if !hexHash.MatchString(p.SHA256) {
			return fmt.Errorf("bundle part %q: sha256 %q is not 64 lowercase hex digits", p.Name, p.SHA256)
		}
	}
	return nil
}

// Part returns the named part.
func (m *Manifest) Part(name string) (Part, bool) {
	for _, p := range m.Parts {
		if p.Name == name {
			return p, true
		}
	}
	return Part{}, false
}

// Size is the whole bundle's size in bytes.
func (m *Manifest) size(manifestLen int) int64 {
	n := int64(headerSize + manifestLen + ed25519.SignatureSize)
	for _, p := range m.Parts {
		n += p.Size
	}
	return n
}

// Source supplies one part's bytes when writing a bundle.
type Source struct {
	Name string
	Open func() (io.ReadCloser, error)
}

// Write builds a signed bundle: it hashes every part, signs the manifest and
// writes header, manifest, signature and parts to w. m.Parts is filled in.
func Write(w io.Writer, m Manifest, key ed25519.PrivateKey, parts []Source) error {
	m.Parts = nil
	for _, s := range parts {
		rc, err := s.Open()
		if err != nil {
			return fmt.Errorf("part %s: %w", s.Name, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("part %s: %w", s.Name, err)
		}
		m.Parts = append(m.Parts, Part{Name: s.Name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	if err := m.Validate(); err != nil {
		return err
	}
	body, err := json.Marshal(m)
	if err != nil {
		return err
	}
	hdr := make([]byte, headerSize)
	copy(hdr, magic)
	binary.BigEndian.PutUint32(hdr[8:], formatVersion)
	binary.BigEndian.PutUint32(hdr[12:], uint32(len(body)))
	for _, b := range [][]byte{hdr, body, ed25519.Sign(key, body)} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	for i, s := range parts {
		rc, err := s.Open()
		if err != nil {
			return fmt.Errorf("part %s: %w", s.Name, err)
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(w, h), rc)
		rc.Close()
		if err != nil {
			return fmt.Errorf("part %s: %w", s.Name, err)
		}
		// A part that changed between hashing and copying would make a bundle
		// no box accepts; refuse to write one.
		if n != m.Parts[i].Size || hex.EncodeToString(h.Sum(nil)) != m.Parts[i].SHA256 {
			return fmt.Errorf("part %s changed while the bundle was written", s.Name)
		}
	}
	return nil
}
