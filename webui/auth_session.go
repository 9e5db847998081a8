package webui

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"
)

const (
	sessionCookie = "rw_session"
	// sessionTTL is how long a login lasts at most; sessionIdle logs out an
	// abandoned browser sooner.
	sessionTTL  = 12 * time.Hour
	sessionIdle = 2 * time.Hour
	// anonTTL bounds sessions that only carry a CSRF token for the login
	// and first-run forms.
	anonTTL = 30 * time.Minute
	// maxSessions bounds the table so a client cannot grow it without limit.
	maxSessions = 2048
)

// session is a browser's state: its CSRF token and, once logged in, the user.
type session struct {
	id       string
	csrf     string
	user     string // "" until logged in
	created  time.Time
	expires  time.Time
	lastSeen time.Time
	flash    string
}

func (s *session) authed() bool { return s.user != "" }

type sessionStore struct {
	now func() time.Time
	mu  sync.Mutex
	m   map[string]*session
}

func newSessionStore(now func() time.Time) *sessionStore {
	return &sessionStore{now: now, m: map[string]*session{}}
}

func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("webui: no randomness: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// get returns the live session the request's cookie names, or nil. A
// request the admin made counts as activity and keeps the session from
// going idle; one the browser makes on its own (the live event stream)
// does not, so a dashboard left open still logs out after sessionIdle.
func (st *sessionStore) get(r *http.Request) *session {
	return st.lookup(r, !isBackgroundRequest(r))
}

// peek is get without counting as activity.
func (st *sessionStore) peek(r *http.Request) *session {
	return st.lookup(r, false)
}

// isBackgroundRequest reports requests a page makes by itself rather than
// on the admin's action: EventSource asks for text/event-stream.
func isBackgroundRequest(r *http.Request) bool {
	return r.Header.Get("Accept") == "text/event-stream"
}

func (st *sessionStore) lookup(r *http.Request, touch bool) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	now := st.now()
	st.mu.Lock()
	defer st.mu.Unlock()
	s := st.m[c.Value]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) || (s.authed() && now.Sub(s.lastSeen) > sessionIdle) {
		delete(st.m, s.id)
		return nil
	}
	if touch {
		s.lastSeen = now
	}
	return s
}

// create starts a session (anonymous when user is "").
func (st *sessionStore) create(user string) *session {
	now := st.now()
	ttl := sessionTTL
	if user == "" {
		ttl = anonTTL
	}
	s := &session{id: randomToken(32), csrf: randomToken(32), user: user, created: now, expires: now.Add(ttl), lastSeen: now}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.m) >= maxSessions {
		st.evictLocked(now)
	}
	st.m[s.id] = s
	return s
}

// evictLocked drops expired sessions, then the oldest anonymous ones, then
// the oldest of all, until there is room.
func (st *sessionStore) evictLocked(now time.Time) {
	for id, s := range st.m {
		if now.After(s.expires) {
			delete(st.m, id)
		}
	}
	for _, anonOnly := range []bool{true, false} {
		for len(st.m) >= maxSessions {
			var oldest *session
			for _, s := range st.m {
				if anonOnly && s.authed() {
					continue
				}
				if oldest == nil || s.created.Before(oldest.created) {
					oldest = s
				}
			}
			if oldest == nil {
				break
			}
			delete(st.m, oldest.id)
		}
	}
}

func (st *sessionStore) delete(id string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	delete(st.m, id)
}

// deleteAll logs everyone out (after a password change).
func (st *sessionStore) deleteAll() {
	st.mu.Lock()
	defer st.mu.Unlock()
	clear(st.m)
}

func (st *sessionStore) setFlash(s *session, msg string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	s.flash = msg
}

func (st *sessionStore) takeFlash(s *session) string {
	st.mu.Lock()
	defer st.mu.Unlock()
	f := s.flash
	s.flash = ""
	return f
}

func (srv *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, s *session) {
	http.SetCookie(w, &http.Cookie{
		Name:     sessionCookie,
		Value:    s.id,
		Path:     "/",
		Expires:  s.expires,
		MaxAge:   int(s.expires.Sub(srv.now()).Seconds()),
		Secure:   srv.secureCookies(r),
		HttpOnly: true,
		SameSite: http.SameSiteStrictMode,
	})
}

func (srv *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		Secure: srv.secureCookies(r), HttpOnly: true, SameSite: http.SameSiteStrictMode})
}

func (srv *Server) secureCookies(r *http.Request) bool {
	return srv.opts.TLS || r.TLS != nil
}

// formSession returns the request's session or starts an anonymous one, so
// the login and first-run forms carry a CSRF token too.
func (srv *Server) formSession(w http.ResponseWriter, r *http.Request) *session {
	if s := srv.sessions.get(r); s != nil {
		return s
	}
	s := srv.sessions.create("")
	srv.setSessionCookie(w, r, s)
	return s
}

func validCSRF(s *session, token string) bool {
	return s != nil && token != "" && subtle.ConstantTimeCompare([]byte(s.csrf), []byte(token)) == 1
}
