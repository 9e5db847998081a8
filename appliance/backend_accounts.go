package appliance

import (
	"context"
	"errors"
	"fmt"

	"github.com/rackwall/rackwall/appliance/store"
	"github.com/rackwall/rackwall/webui"
)

// accountsError tells the UI when the credentials file is unreadable, so it
// shows the locked page instead of an error or, worse, first-run setup.
func accountsError(err error) error {
	if errors.Is(err, store.ErrCredentialsUnreadable) {
		return fmt.Errorf("%w: %v", webui.ErrCredentialsUnreadable, err)
	}
	return err
}

// AdminHash implements webui.Accounts.
func (b *Backend) AdminHash(ctx context.Context) (string, error) {
	c, err := b.store.Credentials()
	return c.AdminHash, accountsError(err)
}

// CheckSetupCode implements webui.Accounts.
func (b *Backend) CheckSetupCode(ctx context.Context, code string) (bool, error) {
	if _, err := b.store.Credentials(); err != nil {
		return false, accountsError(err)
	}
	return b.store.CheckSetupCode(code), nil
}

// SetAdminHash implements webui.Accounts.
func (b *Backend) SetAdminHash(ctx context.Context, actor, hash string, revokeTokens bool) (int, error) {
	if err := store.CheckPasswordHash(hash); err != nil {
		return 0, &webui.InputError{Part: "password", Msg: err.Error()}
	}
	revoked := 0
	err := b.store.UpdateCredentials(func(c *store.Credentials) error {
		c.AdminHash = hash
		if revokeTokens {
			revoked = len(c.Tokens)
			c.Tokens = nil
		}
		return nil
	})
	if err != nil {
		return 0, accountsError(err)
	}
	detail := "API tokens kept"
	if revokeTokens {
		detail = fmt.Sprintf("%d API tokens revoked", revoked)
	}
	b.record(actor, "admin password changed", detail)
	return revoked, nil
}

// Tokens implements webui.Accounts.
func (b *Backend) Tokens(ctx context.Context) ([]webui.APIToken, error) {
	c, err := b.store.Credentials()
	if err != nil {
		return nil, accountsError(err)
	}
	var out []webui.APIToken
	for _, t := range c.Tokens {
		out = append(out, webui.APIToken{ID: t.ID, Name: t.Name, Hash: t.Hash, Created: t.Created})
	}
	return out, nil
}

// maxTokens bounds the stored API tokens.
const maxTokens = 32

// AddToken implements webui.Accounts.
func (b *Backend) AddToken(ctx context.Context, actor string, t webui.APIToken) error {
	err := b.store.UpdateCredentials(func(c *store.Credentials) error {
		if len(c.Tokens) >= maxTokens {
			return &webui.InputError{Part: "token", Msg: fmt.Sprintf("at most %d API tokens; delete one first", maxTokens)}
		}
		c.Tokens = append(c.Tokens, store.APIToken{ID: t.ID, Name: t.Name, Hash: t.Hash, Created: t.Created})
		return nil
	})
	if err != nil {
		return inputError(accountsError(err))
	}
	b.record(actor, "API token "+t.Name+" created", "id "+t.ID)
	return nil
}

// DeleteToken implements webui.Accounts.
func (b *Backend) DeleteToken(ctx context.Context, actor, id string) error {
	var name string
	err := b.store.UpdateCredentials(func(c *store.Credentials) error {
		for i, t := range c.Tokens {
			if t.ID == id {
				name = t.Name
				c.Tokens = append(c.Tokens[:i:i], c.Tokens[i+1:]...)
				return nil
			}
		}
		return &webui.NotFoundError{What: "API token " + id}
	})
	if err != nil {
		return accountsError(err)
	}
	b.record(actor, "API token "+name+" deleted", "id "+id)
	return nil
}
