package main

import (
	"net"
	"net/netip"
	"sync"
)

// limitListener caps the connections a listener holds open: in total and
// per client. A connection over either cap is closed as soon as it is
// accepted, before a byte of it is read, so a client that opens hundreds of
// slow connections costs the box a file descriptor for a moment each, not a
// goroutine and buffers for the length of the read timeout, and leaves
// room for everybody else.
//
// Clients are keyed by IPv4 address and by IPv6 /64: one host on an IPv6
// network picks addresses from its /64 at will.
type limitListener struct {
	net.Listener
	total, perClient int

	mu       sync.Mutex
	open     int
	byClient map[netip.Addr]int
}

func newLimitListener(ln net.Listener, total, perClient int) *limitListener {
	return &limitListener{Listener: ln, total: total, perClient: perClient, byClient: map[netip.Addr]int{}}
}

// Accept returns the next connection within the caps; the ones over a cap
// are closed here and never reach the server.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key := clientKey(c.RemoteAddr())
		if !l.take(key) {
			c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.give(key) }}, nil
	}
}

func (l *limitListener) take(key netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open >= l.total || l.byClient[key] >= l.perClient {
		return false
	}
	l.open++
	l.byClient[key]++
	return true
}

func (l *limitListener) give(key netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.open--
	if n := l.byClient[key] - 1; n > 0 {
		l.byClient[key] = n
	} else {
		delete(l.byClient, key) // the map holds only clients with open connections
	}
}

// counts reports the open connections in total and of the client key.
func (l *limitListener) counts(key netip.Addr) (total, ofClient int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open, l.byClient[key]
}

// clientKey is what one client is counted by: its IPv4 address (also when
// it arrives IPv4-mapped on a dual-stack socket) or its IPv6 /64. An
// address that is not TCP (a unix socket in tests) is one client.
func clientKey(a net.Addr) netip.Addr {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return netip.Addr{}
	}
	ip := tcp.AddrPort().Addr().Unmap()
	if ip.Is4() {
		return ip
	}
	p, err := ip.WithZone("").Prefix(64)
	if err != nil {
		return netip.Addr{}
	}
	return p.Addr()
}

// limitedConn gives its slot back when it is closed, once however often
// Close is called (the server and TLS both close).
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
