package store

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// ConfigError is a problem in one part of the config ("policy", "rules",
// "settings", "auth"), at a 1-based line and column for the text parts.
type ConfigError struct {
	Part   string
	Line   int
	Column int
	Msg    string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s: line %d, column %d: %s", e.Part, e.Line, e.Column, e.Msg)
	}
	return e.Part + ": " + e.Msg
}

// MinBcryptCost is the lowest bcrypt cost accepted for the admin password.
const MinBcryptCost = 10

// maxTextBytes bounds the policy and rules texts; both are a few kilobytes.
const maxTextBytes = 1 << 20

// DefaultConfig is the config of a fresh box: the shipped policy, no rules
// (the box is a sanitizing wire until the admin adds some), the shipped
// settings.
func DefaultConfig() Config {
	return Config{
		Policy:   config.Default().Format(),
		Rules:    "# Filter rules: quick rules are checked first, then the rest, in order;\n# the first rule that matches decides. With no rules the box passes\n# everything that survives the sanitization policy.\n",
		Settings: DefaultSettings(),
	}
}

// ValidateConfig checks every part of a config: the policy with the
// dataplane's policy parser, the rules with the rules parser, and the
// settings.
func ValidateConfig(c Config) error {
	if err := CheckPolicy(c.Policy); err != nil {
		return err
	}
	if err := CheckRules(c.Rules); err != nil {
		return err
	}
	if err := c.Settings.Validate(); err != nil {
		return &ConfigError{Part: "settings", Msg: err.Error()}
	}
	return nil
}

// CheckPolicy parses a policy text and returns a *ConfigError on failure.
func CheckPolicy(text string) error {
	if len(text) > maxTextBytes {
		return &ConfigError{Part: "policy", Line: 1, Column: 1, Msg: "policy text too large"}
	}
	_, err := config.Parse([]byte(text))
	if err == nil {
		return nil
	}
	var pe *config.Error
	if errors.As(err, &pe) {
		return &ConfigError{Part: "policy", Line: pe.Line, Column: pe.Col, Msg: pe.Msg}
	}
	return &ConfigError{Part: "policy", Msg: err.Error()}
}

// CheckRules parses a rules text and returns a *ConfigError on failure.
func CheckRules(text string) error {
	if len(text) > maxTextBytes {
		return &ConfigError{Part: "rules", Line: 1, Column: 1, Msg: "rules text too large"}
	}
	_, err := rules.Parse(text)
	if err == nil {
		return nil
	}
	var se *rules.SyntaxError
	if errors.As(err, &se) {
		return &ConfigError{Part: "rules", Line: se.Line, Column: se.Col, Msg: se.Msg}
	}
	return &ConfigError{Part: "rules", Msg: err.Error()}
}

// CheckPasswordHash accepts a bcrypt hash of cost MinBcryptCost or more.
func CheckPasswordHash(hash string) error {
	if !strings.HasPrefix(hash, "$2") {
		return errors.New("admin password hash is not a bcrypt hash")
	}
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return fmt.Errorf("admin password hash: %v", err)
	}
	if cost < MinBcryptCost {
		return fmt.Errorf("admin password hash has bcrypt cost %d; at least %d is required", cost, MinBcryptCost)
	}
	return nil
}
