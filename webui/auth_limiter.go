package webui

import (
	"container/list"
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// loginLimiter allows each client a few login attempts per window. A client
// is an IPv4 address or an IPv6 /64: one host usually holds a whole /64, and
// keying by full address would give it 2^64 fresh budgets.
//
// The table holds at most max clients. When it is full the client seen
// least recently is forgotten: refusing newcomers instead would let anyone
// with a few thousand addresses lock the owner out of their own box.
type loginLimiter struct {
	now      func() time.Time
	attempts int
	window   time.Duration
	max      int

	mu      sync.Mutex
	clients map[string]*list.Element // of *limiterClient
	lru     list.List                // front: most recently seen
}

type limiterClient struct {
	key   string
	times []time.Time // attempts within the window, oldest first
}

// maxLimiterClients bounds the limiter's memory.
const maxLimiterClients = 4096

func newLoginLimiter(now func() time.Time, attempts int, window time.Duration) *loginLimiter {
	return &loginLimiter{now: now, attempts: attempts, window: window, max: maxLimiterClients,
		clients: map[string]*list.Element{}}
}

// allow records an attempt by client key and reports whether it may go
// ahead; when not, retry says when the next one will.
func (l *loginLimiter) allow(key string) (ok bool, retry time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	el := l.clients[key]
	if el == nil {
		if len(l.clients) >= l.max {
			oldest := l.lru.Back()
			delete(l.clients, oldest.Value.(*limiterClient).key)
			l.lru.Remove(oldest)
		}
		el = l.lru.PushFront(&limiterClient{key: key})
		l.clients[key] = el
	} else {
		l.lru.MoveToFront(el)
	}
	c := el.Value.(*limiterClient)
	recent := c.times[:0]
	for _, t := range c.times {
		if now.Sub(t) < l.window {
			recent = append(recent, t)
		}
	}
	c.times = recent
	if len(recent) >= l.attempts {
		return false, l.window - now.Sub(recent[0])
	}
	c.times = append(c.times, now)
	return true, 0
}

// reset forgets a client's attempts after a successful login, so an admin
// who mistyped a few times is not locked out for the rest of the window.
func (l *loginLimiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el := l.clients[key]; el != nil {
		l.lru.Remove(el)
		delete(l.clients, key)
	}
}

// len returns how many clients are tracked.
func (l *loginLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients)
}

// clientIP is the request's peer address, for messages and events.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// limiterKey is the client a login attempt is charged to: the IPv4 address,
// or the /64 of an IPv6 address (IPv4-mapped addresses count as IPv4).
func limiterKey(r *http.Request) string {
	ip := clientIP(r)
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is4() {
		return addr.String()
	}
	p, _ := addr.Prefix(64)
	return p.String()
}

// hashSlots bounds how many bcrypt computations run at once. Each takes
// tens of milliseconds of a CPU at the default cost; unbounded, a burst of
// login attempts from many addresses would starve the box's two cores and
// the dataplane with them. A request that finds every slot taken waits
// briefly, then is told to come back.
type hashSlots struct {
	slots chan struct{}
	wait  time.Duration
}

// maxConcurrentHashes is the bcrypt concurrency: one per core of a small box.
const (
	maxConcurrentHashes = 2
	hashSlotWait        = 2 * time.Second
)

// errHashBusy answers a login that found no free bcrypt slot in time.
var errHashBusy = errors.New("the box is busy checking other logins; try again in a moment")

func newHashSlots(n int, wait time.Duration) *hashSlots {
	return &hashSlots{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most s.wait, and returns its release.
func (s *hashSlots) acquire(ctx context.Context) (release func(), err error) {
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return func() { <-s.slots }, nil
	case <-t.C:
		return nil, errHashBusy
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
