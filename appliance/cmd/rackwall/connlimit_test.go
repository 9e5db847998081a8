package main

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

// acceptAll accepts from ln until it is closed and hands out what it got.
func acceptAll(t *testing.T, ln net.Listener) <-chan net.Conn {
	t.Helper()
	got := make(chan net.Conn, 64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			got <- c
		}
	}()
	return got
}

// dialFrom connects to addr from the loopback address from.
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedByServer says whether the server closed c at once: a read ends
// with EOF (or a reset) rather than waiting.
func closedByServer(c net.Conn) bool {
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return err != nil
}

func limitedLoopback(t *testing.T, total, perClient int) (*limitListener, <-chan net.Conn) {
	t.Helper()
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := newLimitListener(inner, total, perClient)
	t.Cleanup(func() { ln.Close() })
	return ln, acceptAll(t, ln)
}

func TestLimitListenerPerClient(t *testing.T) {
	ln, accepted := limitedLoopback(t, 100, 3)
	addr := ln.Addr().String()
	var conns []net.Conn
	for i := 0; i < 5; i++ {
		conns = append(conns, dialFrom(t, "127.0.0.2", addr))
	}
	held := make([]net.Conn, 0, 3)
	for i := 0; i < 3; i++ {
		select {
		case c := <-accepted:
			held = append(held, c)
		case <-time.After(2 * time.Second):
			t.Fatalf("only %d connections accepted, want 3", i)
		}
	}
	closed := 0
	for _, c := range conns {
		if closedByServer(c) {
			closed++
		}
	}
	if closed != 2 {
		t.Fatalf("%d of 5 connections from one client closed at once, want the 2 over the cap", closed)
	}
	select {
	case c := <-accepted:
		t.Fatalf("a connection over the cap reached the server: %v", c.RemoteAddr())
	default:
	}
	key := netip.MustParseAddr("127.0.0.2")
	if total, of := ln.counts(key); total != 3 || of != 3 {
		t.Fatalf("counts %d total, %d of the client; want 3 and 3", total, of)
	}

	// Another client is not held back by the first one's cap.
	other := dialFrom(t, "127.0.0.3", addr)
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("a second client was refused")
	}
	if closedByServer(other) {
		t.Fatal("a second client was closed")
	}

	// A closed connection gives its slot back, once however often it is closed.
	held[0].Close()
	held[0].Close()
	if total, of := ln.counts(key); total != 3 || of != 2 {
		t.Fatalf("after a close: %d total, %d of the client; want 3 and 2", total, of)
	}
	again := dialFrom(t, "127.0.0.2", addr)
	select {
	case <-accepted:
	case <-time.After(2 * time.Second):
		t.Fatal("the freed slot was not given to the client again")
	}
	if closedByServer(again) {
		t.Fatal("the connection into the freed slot was closed")
	}
}

func TestLimitListenerTotal(t *testing.T) {
	ln, accepted := limitedLoopback(t, 4, 10)
	addr := ln.Addr().String()
	var conns []net.Conn
	for i := 1; i <= 6; i++ {
		conns = append(conns, dialFrom(t, netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}).String(), addr))
	}
	var held []net.Conn
	for len(held) < 4 {
		select {
		case c := <-accepted:
			held = append(held, c)
		case <-time.After(2 * time.Second):
			t.Fatalf("only %d connections accepted, want 4", len(held))
		}
	}
	closed := 0
	for _, c := range conns {
		if closedByServer(c) {
			closed++
		}
	}
	if closed != 2 {
		t.Fatalf("%d of 6 connections closed at once, want the 2 over the total cap", closed)
	}
	for _, c := range held {
		c.Close()
	}
	if total, _ := ln.counts(netip.Addr{}); total != 0 {
		t.Fatalf("%d connections counted after all closed", total)
	}
	// The listener itself failing ends Accept with the error.
	ln.Close()
	if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept on a closed listener: %v", err)
	}
}

func TestClientKey(t *testing.T) {
	key := func(s string) netip.Addr {
		return clientKey(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(s)))
	}
	for _, c := range []struct{ a, b string }{
		{"192.0.2.7:1000", "192.0.2.7:2000"},
		{"[::ffff:192.0.2.7]:1000", "192.0.2.7:2000"},
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:2:ffff:ffff:ffff:ffff]:2000"},
		{"[fe80::1%eth0]:1000", "[fe80::2%eth1]:2000"},
	} {
		if key(c.a) != key(c.b) {
			t.Errorf("%s and %s are counted apart, want one client", c.a, c.b)
		}
	}
	for _, c := range []struct{ a, b string }{
		{"192.0.2.7:1000", "192.0.2.8:1000"},
		{"[2001:db8:1:2::1]:1000", "[2001:db8:1:3::1]:1000"},
	} {
		if key(c.a) == key(c.b) {
			t.Errorf("%s and %s are counted together, want two clients", c.a, c.b)
		}
	}
	if k := clientKey(&net.UnixAddr{Name: "/x", Net: "unix"}); k.IsValid() {
		t.Errorf("unix address keyed as %v", k)
	}
}
