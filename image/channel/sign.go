package channel

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
)

// Sign validates ix and returns the signed index file.
func Sign(ix Index, key ed25519.PrivateKey) ([]byte, error) {
	if err := ix.Validate(); err != nil {
		return nil, err
	}
	body, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return nil, err
	}
	body = append(body, '\n')
	out := []byte(header)
	out = append(out, base64.StdEncoding.EncodeToString(ed25519.Sign(key, body))...)
	out = append(out, '\n')
	return append(out, body...), nil
}
