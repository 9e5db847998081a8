package webui

import (
	"context"
	"errors"
	"io"
	"time"
)

// Monitor reads the live dataplane state and acts on sources.
type Monitor interface {
	Status(ctx context.Context) (Status, error)
	// TopSources returns up to n sources, most violations first.
	TopSources(ctx context.Context, n int) ([]SourceSummary, error)
	// Source returns one source; a *NotFoundError if the box does not track it.
	Source(ctx context.Context, key string) (SourceDetail, error)
	Quarantined(ctx context.Context) ([]QuarantineEntry, error)
	Quarantine(ctx context.Context, actor, key string, d time.Duration) error
	Release(ctx context.Context, actor, key string) error
	// Capture streams the kept dropped frames as pcapng, filtered by
	// reason name and/or source key (empty = all).
	Capture(ctx context.Context, w io.Writer, reason, source string) error
}

// Configurator reads and changes the stored config. Errors caused by the
// input are *InputError; state conflicts *ConflictError.
type Configurator interface {
	// Config returns the current config and the pending change, if any.
	Config(ctx context.Context) (ConfigView, error)
	// Knobs returns the policy knobs with their values in the running policy.
	Knobs(ctx context.Context) ([]Knob, error)
	// CheckRules validates a rules text without changing anything.
	CheckRules(ctx context.Context, text string) error
	// ApplyRules runs new rules. With confirm > 0 they revert by themselves
	// unless Confirm is called within confirm; with 0 they are stored at once.
	ApplyRules(ctx context.Context, actor, text string, confirm time.Duration) error
	// ApplyPolicy does the same for the policy text.
	ApplyPolicy(ctx context.Context, actor, text string, confirm time.Duration) error
	Confirm(ctx context.Context, actor string) error
	Revert(ctx context.Context, actor string) error
	SetSettings(ctx context.Context, actor string, s Settings) error
	Revisions(ctx context.Context) ([]Revision, error)
	Revision(ctx context.Context, n int) (ConfigView, error)
	Rollback(ctx context.Context, actor string, n int) error
	Export(ctx context.Context) ([]byte, error)
	// Import validates the whole document before it replaces anything.
	Import(ctx context.Context, actor string, data []byte) error
	Audit(ctx context.Context, limit int) ([]AuditEntry, error)
}

// Accounts stores the admin password hash and the API token hashes. While
// the stored credentials cannot be read, every method returns an error
// wrapping ErrCredentialsUnreadable, and the UI stays locked: it neither
// reopens first-run setup nor accepts a login.
type Accounts interface {
	// AdminHash returns the admin password's bcrypt hash, "" while none is set.
	AdminHash(ctx context.Context) (string, error)
	// CheckSetupCode reports whether code is the one-time first-run setup
	// code the box shows on its console (compared in constant time).
	CheckSetupCode(ctx context.Context, code string) (bool, error)
	// SetAdminHash stores a new admin password hash and, with revokeTokens,
	// deletes every API token in the same write; revoked is how many went.
	// The first admin password retires the setup code.
	SetAdminHash(ctx context.Context, actor, hash string, revokeTokens bool) (revoked int, err error)
	Tokens(ctx context.Context) ([]APIToken, error)
	AddToken(ctx context.Context, actor string, t APIToken) error
	DeleteToken(ctx context.Context, actor, id string) error
}

// ErrCredentialsUnreadable marks the stored credentials as unreadable
// (corrupt, or from firmware this one cannot read). The owner resets them
// on the console.
var ErrCredentialsUnreadable = errors.New("credentials unreadable; reset them on the console")

// Events delivers events to the browser and lets the UI report its own
// (logins, login failures).
type Events interface {
	// Subscribe returns a channel of events until cancel is called.
	Subscribe() (events <-chan Event, cancel func())
	Publish(e Event)
}

// System is the box itself.
type System interface {
	Reboot(ctx context.Context, actor string) error
}
