package webui

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
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

func (srv *Server) hashPassword(pw string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), srv.opts.BcryptCost)
	return string(h), err
}

// checkPassword compares pw with the stored admin hash.
func (srv *Server) checkPassword(ctx context.Context, pw string) (bool, error) {
	hash, err := srv.opts.Accounts.AdminHash(ctx)
	if err != nil || hash == "" {
		return false, err
	}
	err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	return err == nil, err
}

// needsSetup reports whether no admin password exists yet.
func (srv *Server) needsSetup(ctx context.Context) bool {
	hash, err := srv.opts.Accounts.AdminHash(ctx)
	return err == nil && hash == ""
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

// loginLimiter allows a client IP a few login attempts per window.
type loginLimiter struct {
	now      func() time.Time
	attempts int
	window   time.Duration
	mu       sync.Mutex
	m        map[string][]time.Time
}

const maxLimiterIPs = 4096

func newLoginLimiter(now func() time.Time, attempts int, window time.Duration) *loginLimiter {
	return &loginLimiter{now: now, attempts: attempts, window: window, m: map[string][]time.Time{}}
}

// allow records an attempt and reports whether it may go ahead; when not,
// retry says when the next one will.
func (l *loginLimiter) allow(ip string) (ok bool, retry time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	recent := l.m[ip][:0:0]
	for _, t := range l.m[ip] {
		if now.Sub(t) < l.window {
			recent = append(recent, t)
		}
	}
	if len(recent) >= l.attempts {
		l.m[ip] = recent
		return false, l.window - now.Sub(recent[0])
	}
	if len(l.m) >= maxLimiterIPs {
		for k, ts := range l.m {
			if len(ts) == 0 || now.Sub(ts[len(ts)-1]) >= l.window {
				delete(l.m, k)
			}
		}
		if len(l.m) >= maxLimiterIPs {
			// Still full of active clients: refuse rather than grow.
			return false, l.window
		}
	}
	l.m[ip] = append(recent, now)
	return true, 0
}

// reset forgets an IP's attempts after a successful login, so an admin who
// mistyped a few times is not locked out for the rest of the window.
func (l *loginLimiter) reset(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, ip)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
