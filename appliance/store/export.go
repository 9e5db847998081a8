package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// exportFormat names the export file so an import can tell it from any other JSON.
const exportFormat = "rackwall-config/1"

// Export is the portable part of the config: everything but the
// credentials, which stay on the box they were set on.
type Export struct {
	Format   string   `json:"format"`
	Revision int      `json:"revision"`
	Policy   string   `json:"policy"`
	Rules    string   `json:"rules"`
	Settings Settings `json:"settings"`
}

// maxImportBytes bounds an import file.
const maxImportBytes = 4 << 20

// Export returns the current config as an export document.
func (s *Store) Export() ([]byte, error) {
	cur := s.Current()
	return json.MarshalIndent(Export{
		Format:   exportFormat,
		Revision: cur.N,
		Policy:   cur.Config.Policy,
		Rules:    cur.Config.Rules,
		Settings: cur.Config.Settings,
	}, "", "  ")
}

// ParseExport reads and fully validates an export document without
// touching the store.
func ParseExport(data []byte) (Export, error) {
	if len(data) > maxImportBytes {
		return Export{}, fmt.Errorf("import: file is %d bytes; at most %d are accepted", len(data), maxImportBytes)
	}
	var e Export
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Export{}, fmt.Errorf("import: not a rackwall config export: %v", err)
	}
	if dec.More() {
		return Export{}, errors.New("import: trailing data after the config")
	}
	if e.Format != exportFormat {
		return Export{}, fmt.Errorf("import: format %q is not %q", e.Format, exportFormat)
	}
	if err := ValidateConfig(Config{Policy: e.Policy, Rules: e.Rules, Settings: e.Settings}); err != nil {
		return Export{}, fmt.Errorf("import: %w", err)
	}
	return e, nil
}

// Import validates an export document and, only if all of it is valid,
// makes it the current config as a new revision. The credentials stay.
func (s *Store) Import(author string, data []byte) (Revision, error) {
	e, err := ParseExport(data)
	if err != nil {
		return Revision{}, err
	}
	return s.Commit(author, fmt.Sprintf("import config (exported at revision %d)", e.Revision), func(c *Config) error {
		c.Policy, c.Rules, c.Settings = e.Policy, e.Rules, e.Settings
		return nil
	})
}
