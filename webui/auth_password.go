package webui

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
)

// Password rules.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 72 // bcrypt reads no further
	MinBcryptCost  = 10
)

func checkNewPassword(pw, again string) error {
	if pw != again {
		return &InputError{Part: "password", Msg: "the two passwords differ"}
	}
	if utf8.RuneCountInString(pw) < MinPasswordLen {
		return &InputError{Part: "password", Msg: "use at least 10 characters"}
	}
	if len(pw) > MaxPasswordLen {
		return &InputError{Part: "password", Msg: "use at most 72 bytes"}
	}
	return nil
}

func (srv *Server) hashPassword(ctx context.Context, pw string) (string, error) {
	release, err := srv.hashSlots.acquire(ctx)
	if err != nil {
		return "", err
	}
	defer release()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), srv.opts.BcryptCost)
	return string(h), err
}

// checkPassword compares pw with the stored admin hash. It fails with
// errHashBusy when too many bcrypt computations are running already.
func (srv *Server) checkPassword(ctx context.Context, pw string) (bool, error) {
	hash, err := srv.opts.Accounts.AdminHash(ctx)
	if err != nil || hash == "" {
		return false, err
	}
	release, err := srv.hashSlots.acquire(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	err = srv.compareHash([]byte(hash), []byte(pw))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

// needsSetup reports whether no admin password exists yet. Unreadable
// credentials are not "no password": they lock the UI instead.
func (srv *Server) needsSetup(ctx context.Context) bool {
	hash, err := srv.opts.Accounts.AdminHash(ctx)
	return err == nil && hash == ""
}

// credentialsLocked reports whether the stored credentials are unreadable.
func (srv *Server) credentialsLocked(ctx context.Context) bool {
	_, err := srv.opts.Accounts.AdminHash(ctx)
	return errors.Is(err, ErrCredentialsUnreadable)
}

// API tokens: "rwt_" and 32 random bytes; only their SHA-256 is stored.
const tokenPrefix = "rwt_"

func newAPIToken() (secret, hash string) {
	secret = tokenPrefix + randomToken(32)
	return secret, hashToken(secret)
}

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// bearerActor returns the actor name of a valid bearer token, or "".
func (srv *Server) bearerActor(r *http.Request) (actor string, present bool) {
	h := r.Header.Get("Authorization")
	secret, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return "", false
	}
	secret = strings.TrimSpace(secret)
	tokens, err := srv.opts.Accounts.Tokens(r.Context())
	if err != nil || !strings.HasPrefix(secret, tokenPrefix) {
		return "", true
	}
	want := hashToken(secret)
	for _, t := range tokens {
		if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(want)) == 1 {
			return "token:" + t.Name, true
		}
	}
	return "", true
}
