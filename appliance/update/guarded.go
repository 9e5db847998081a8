package update

import (
	"context"
	"errors"
	"io"
)

// InstallGuarded installs like Install, for callers that are not the
// update API (the web UI's update page): a downgrade needs the admin
// password, which the caller checked and marked on ctx; without that mark
// it is refused here too, whoever calls.
func (a *Agent) InstallGuarded(ctx context.Context, r io.Reader, opt InstallOptions) (*Attempt, error) {
	if opt.AllowDowngrade && !a.cfg.PasswordConfirmed(ctx) {
		return nil, errors.New(a.downgradeNeedsPassword())
	}
	return a.Install(ctx, r, opt)
}

// PasswordGuard is the web UI guard's side of a downgrade: whether the
// request carrying ctx re-entered the admin password, and the header it is
// read from.
type PasswordGuard struct {
	Confirmed func(context.Context) bool
	Header    string
}
