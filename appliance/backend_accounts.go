package appliance

import (
	"context"
	"fmt"

	"github.com/rackwall/rackwall/webui"
)

// AdminHash implements webui.Accounts.
func (b *Backend) AdminHash(ctx context.Context) (string, error) {
	return b.store.Current().Config.Auth.AdminHash, nil
}

// SetAdminHash implements webui.Accounts.
func (b *Backend) SetAdminHash(ctx context.Context, actor, hash string) error {
	if err := checkPasswordHash(hash); err != nil {
		return &webui.InputError{Part: "password", Msg: err.Error()}
	}
	rev, err := b.store.Commit(actor, "admin password changed", func(c *Config) error {
		c.Auth.AdminHash = hash
		return nil
	})
	if err != nil {
		return inputError(err)
	}
	b.record(actor, rev.Summary, fmt.Sprintf("revision %d", rev.N))
	return nil
}

// Tokens implements webui.Accounts.
func (b *Backend) Tokens(ctx context.Context) ([]webui.APIToken, error) {
	var out []webui.APIToken
	for _, t := range b.store.Current().Config.Auth.Tokens {
		out = append(out, webui.APIToken{ID: t.ID, Name: t.Name, Hash: t.Hash, Created: t.Created})
	}
	return out, nil
}

// maxTokens bounds the stored API tokens.
const maxTokens = 32

// AddToken implements webui.Accounts.
func (b *Backend) AddToken(ctx context.Context, actor string, t webui.APIToken) error {
	rev, err := b.store.Commit(actor, "API token "+t.Name+" created", func(c *Config) error {
		if len(c.Auth.Tokens) >= maxTokens {
			return &webui.InputError{Part: "token", Msg: fmt.Sprintf("at most %d API tokens; delete one first", maxTokens)}
		}
		c.Auth.Tokens = append(c.Auth.Tokens, APIToken{ID: t.ID, Name: t.Name, Hash: t.Hash, Created: t.Created})
		return nil
	})
	if err != nil {
		return inputError(err)
	}
	b.record(actor, rev.Summary, fmt.Sprintf("revision %d", rev.N))
	return nil
}

// DeleteToken implements webui.Accounts.
func (b *Backend) DeleteToken(ctx context.Context, actor, id string) error {
	var name string
	rev, err := b.store.Commit(actor, "API token deleted", func(c *Config) error {
		for i, t := range c.Auth.Tokens {
			if t.ID == id {
				name = t.Name
				c.Auth.Tokens = append(c.Auth.Tokens[:i:i], c.Auth.Tokens[i+1:]...)
				return nil
			}
		}
		return &webui.NotFoundError{What: "API token " + id}
	})
	if err != nil {
		return err
	}
	b.record(actor, "API token "+name+" deleted", fmt.Sprintf("revision %d", rev.N))
	return nil
}
