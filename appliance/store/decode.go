package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
)

// legacyFields are fields older firmware wrote that this one reads
// elsewhere: the credentials lived in every revision before they got their
// own file (store_credentials.go moves them out).
var legacyFields = []string{"config.auth"}

// decodeRevision decodes a revision file. Fields it does not know (a file
// written by newer firmware, read again after an A/B fallback) are ignored
// and named in ignored, so the caller can warn: refusing the whole file
// would throw the config away for a field this version has no use for.
// Malformed JSON, trailing data and a missing revision number are errors.
func decodeRevision(data []byte) (r Revision, ignored []string, err error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return Revision{}, nil, fmt.Errorf("not a config file: %w", err)
	}
	if dec.More() {
		return Revision{}, nil, errors.New("not a config file: trailing data")
	}
	if r.N <= 0 {
		return Revision{}, nil, errors.New("not a config file: no revision number")
	}
	for _, f := range unknownFields(data, reflect.TypeFor[Revision](), "") {
		if !slices.Contains(legacyFields, f) {
			ignored = append(ignored, f)
		}
	}
	return r, ignored, nil
}

// unknownFields lists, as dotted paths, the object keys in data that no
// field of struct type t (or of the structs inside it) decodes.
func unknownFields(data []byte, t reflect.Type, prefix string) []string {
	var obj map[string]json.RawMessage
	if json.Unmarshal(data, &obj) != nil {
		return nil
	}
	known := map[string]reflect.Type{}
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		known[strings.ToLower(name)] = f.Type
	}
	var out []string
	for _, key := range slices.Sorted(maps.Keys(obj)) {
		// encoding/json matches keys case-insensitively.
		ft, ok := known[strings.ToLower(key)]
		if !ok {
			out = append(out, prefix+key)
			continue
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[time.Time]() {
			out = append(out, unknownFields(obj[key], ft, prefix+key+".")...)
		}
	}
	return out
}
