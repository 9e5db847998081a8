package bundle

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"os"
	"strings"
)

// Keys are stored as one line of base64 text with a type prefix, so a file
// says what it is and a public key can be pasted anywhere:
//
//	rackwall-ed25519-public <base64 32 bytes>
//	rackwall-ed25519-private <base64 64 bytes>
const (
	publicPrefix  = "rackwall-ed25519-public "
	privatePrefix = "rackwall-ed25519-private "
)

// GenerateKeys writes a new key pair. The private key file is created 0600
// and never overwritten.
func GenerateKeys(privatePath, publicPath string) error {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(privatePath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("private key: %w", err)
	}
	if _, err := f.WriteString(privatePrefix + base64.StdEncoding.EncodeToString(priv) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.WriteFile(publicPath, []byte(publicPrefix+base64.StdEncoding.EncodeToString(pub)+"\n"), 0o644)
}

// ParsePublicKey reads a public key line.
func ParsePublicKey(text string) (ed25519.PublicKey, error) {
	b, err := parseKey(text, publicPrefix, ed25519.PublicKeySize)
	return ed25519.PublicKey(b), err
}

// ParsePrivateKey reads a private key line.
func ParsePrivateKey(text string) (ed25519.PrivateKey, error) {
	b, err := parseKey(text, privatePrefix, ed25519.PrivateKeySize)
	return ed25519.PrivateKey(b), err
}

// LoadPrivateKey reads a private key file.
func LoadPrivateKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := ParsePrivateKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadPublicKeys reads every key line of the given files; blank lines and
// lines starting with # are skipped.
func LoadPublicKeys(paths ...string) ([]ed25519.PublicKey, error) {
	var keys []ed25519.PublicKey
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for i, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			k, err := ParsePublicKey(line)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", p, i+1, err)
			}
			keys = append(keys, k)
		}
	}
	return keys, nil
}

func parseKey(text, prefix string, size int) ([]byte, error) {
	text = strings.TrimSpace(text)
	rest, ok := strings.CutPrefix(text, prefix)
	if !ok {
		return nil, fmt.Errorf("not a key of type %q", strings.TrimSpace(prefix))
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(rest))
	if err != nil {
		return nil, fmt.Errorf("key is not valid base64: %w", err)
	}
	if len(b) != size {
		return nil, fmt.Errorf("key has %d bytes, want %d", len(b), size)
	}
	return b, nil
}
