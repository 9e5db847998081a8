package main

import (
	"log/slog"
	"os"

	"github.com/rackwall/rackwall/dataplane"
	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// sources are the files the dataplane reads at start and on SIGHUP.
type sources struct {
	configPath, rulesPath string
}

func (s sources) loadPolicy() (config.Policy, error) {
	if s.configPath == "" {
		return config.Default(), nil
	}
	b, err := os.ReadFile(s.configPath)
	if err != nil {
		return config.Policy{}, err
	}
	return config.Parse(b)
}

// loadRules returns nil (pass all) without a rules file.
func (s sources) loadRules() (*rules.RuleSet, error) {
	if s.rulesPath == "" {
		return nil, nil
	}
	b, err := os.ReadFile(s.rulesPath)
	if err != nil {
		return nil, err
	}
	return rules.Parse(string(b))
}

// reload reads both files again; each one is installed only if it parses
// completely, so a typo never replaces a working policy or rule set.
func (s sources) reload(e *dataplane.Engine, log *slog.Logger) {
	if s.configPath != "" {
		if p, err := s.loadPolicy(); err != nil {
			log.Error("config reload refused, running policy kept", "file", s.configPath, "err", err)
		} else {
			e.SetPolicy(&p)
			boundHeap(p.FragmentMemory)
			log.Info("config reloaded", "file", s.configPath)
		}
	}
	if s.rulesPath != "" {
		if rs, err := s.loadRules(); err != nil {
			log.Error("rules reload refused, running rules kept", "file", s.rulesPath, "err", err)
		} else {
			e.LoadRules(rs)
			log.Info("rules reloaded", "file", s.rulesPath)
		}
	}
	if s.configPath == "" && s.rulesPath == "" {
		log.Info("SIGHUP: nothing to reload (no --config or --rules)")
	}
}
