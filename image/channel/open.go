package channel

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// header is the first line of every index file.
const header = "RWINDEX 1\n"

func refuse(format string, args ...any) error { return &Error{Reason: fmt.Sprintf(format, args...)} }

// Open checks an index file against the trusted keys and decodes it
// strictly: the envelope, then the signature, then the body (unknown or
// repeated fields, trailing data and bad values are refused). Every
// refusal is an *Error. The body is trusted only after the signature
// matched, so nothing an unsigned file says reaches the decoder's caller.
func Open(data []byte, keys []ed25519.PublicKey) (*Index, error) {
	body, sig, err := split(data)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, refuse("this box trusts no update keys")
	}
	trusted := false
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && ed25519.Verify(k, body, sig) {
			trusted = true
			break
		}
	}
	if !trusted {
		return nil, refuse("bad signature: the index is not signed by a key this box trusts")
	}
	return decode(body)
}

// split takes the envelope apart.
func split(data []byte) (body, sig []byte, err error) {
	if len(data) > MaxIndexBytes {
		return nil, nil, refuse("index of %d bytes is larger than %d", len(data), MaxIndexBytes)
	}
	rest, ok := bytes.CutPrefix(data, []byte(header))
	if !ok {
		return nil, nil, refuse("not a rackwall channel index: it does not start with %q", strings.TrimSpace(header))
	}
	line, body, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return nil, nil, refuse("index truncated in its signature line")
	}
	sig, err = base64.StdEncoding.Strict().DecodeString(string(line))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, nil, refuse("the signature line is not %d bytes of base64", ed25519.SignatureSize)
	}
	return body, sig, nil
}

// decode reads a body strictly.
func decode(body []byte) (*Index, error) {
	if err := noDuplicateKeys(body); err != nil {
		return nil, refuse("index body: %v", err)
	}
	var ix Index
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ix); err != nil {
		return nil, refuse("index body is not valid: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, refuse("index body has data after its JSON object")
	}
	if err := ix.Validate(); err != nil {
		return nil, refuse("%v", err)
	}
	return &ix, nil
}

// noDuplicateKeys refuses a JSON text in which an object names a key twice
// (keys compared as encoding/json matches them, case-insensitively):
// encoding/json would keep the last, and a signer's tool may have shown
// the first.
func noDuplicateKeys(body []byte) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token is a key
	}
	var stack []*frame
	for depth := 0; ; depth++ {
		if depth > 1<<20 {
			return errors.New("too many tokens")
		}
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				if len(stack) > 0 && stack[len(stack)-1].object {
					stack[len(stack)-1].key = true
				}
				continue
			}
			k, _ := tok.(string)
			lk := strings.ToLower(k)
			if top.keys[lk] {
				return fmt.Errorf("key %q appears twice in one object", k)
			}
			top.keys[lk] = true
			top.key = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{':
			if len(stack) >= 16 {
				return errors.New("nested too deeply")
			}
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			continue
		case '[':
			if len(stack) >= 16 {
				return errors.New("nested too deeply")
			}
			stack = append(stack, &frame{})
			continue
		case ']', '}':
			stack = stack[:len(stack)-1]
		}
		// A value ended: in an object, a key comes next.
		if len(stack) > 0 && stack[len(stack)-1].object {
			stack[len(stack)-1].key = true
		}
	}
}
