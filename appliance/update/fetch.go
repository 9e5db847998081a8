package update

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"
)

// Fetcher downloads bundles for POST /api/update/fetch. Whoever may update
// the box may name any URL, so the fetcher must not become a way to reach
// what only the box can reach: it speaks https only, and it never connects
// to a loopback, link-local, unspecified, multicast or broadcast address or
// to one of the box's own addresses. The check runs on every address the
// host name resolves to before dialling, and again in the dialer's Control
// hook on the address actually connected to, so a name that resolves to
// something else a moment later (DNS rebinding) gains nothing. Redirects
// go through the same dialer and are bounded.
//
// The zero value is ready to use.
type Fetcher struct {
	// AllowLoopback lets tests fetch from a server on 127.0.0.1 or ::1.
	// A box never sets it.
	AllowLoopback bool
	// RootCAs replaces the system's certificate roots (tests); nil uses
	// the system's.
	RootCAs *x509.CertPool
	// Timeout bounds a whole download (default 30 min).
	Timeout time.Duration

	// lookup resolves a host name (default: the system resolver); tests
	// replace it to return chosen addresses.
	lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// ownAddrs lists the box's addresses (default: every interface's).
	ownAddrs func() ([]netip.Addr, error)
}

// maxRedirects is how many redirects a fetch follows.
const maxRedirects = 3

// fetchInputError is a URL refused from its text alone: the caller may be
// told exactly why, since it reveals nothing they did not write.
type fetchInputError struct{ reason string }

func (e *fetchInputError) Error() string { return e.reason }

// errFetchFailed is all a client learns of a fetch that failed on the
// network: dial errors, resolved addresses and which rule refused one stay
// in the box's log, where they cannot be used to map the box's
// surroundings.
var errFetchFailed = errors.New("the bundle could not be fetched from that URL (the box's log says why)")

// errFetchBroken replaces a read error in the middle of a download, for the
// same reason.
var errFetchBroken = errors.New("the download of the bundle broke off")

// checkURL applies the rules that need nothing but the URL's text.
func (f *Fetcher) checkURL(u *url.URL) error {
	if u.Scheme != "https" {
		return &fetchInputError{"only https URLs can be fetched"}
	}
	if u.Hostname() == "" {
		return &fetchInputError{"the URL names no host"}
	}
	if ip, err := netip.ParseAddr(u.Hostname()); err == nil {
		if reason := f.forbidden(ip, nil); reason != "" {
			return &fetchInputError{fmt.Sprintf("bundles are never fetched from a %s address", reason)}
		}
	}
	return nil
}

// forbidden names the rule that keeps the box away from ip, or "".
func (f *Fetcher) forbidden(ip netip.Addr, own []netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return "invalid"
	case ip.IsUnspecified() || (ip.Is4() && ip.As4()[0] == 0):
		return "unspecified"
	case ip.IsLoopback():
		if f.AllowLoopback {
			return ""
		}
		return "loopback"
	case ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast():
		return "link-local"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast():
		return "multicast"
	case ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "broadcast"
	}
	for _, o := range own {
		if o.Unmap().WithZone("") == ip {
			return "the box's own"
		}
	}
	return ""
}

func (f *Fetcher) own() ([]netip.Addr, error) {
	if f.ownAddrs != nil {
		return f.ownAddrs()
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, err
	}
	var out []netip.Addr
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			out = append(out, p.Addr())
		}
	}
	return out, nil
}

// check refuses ip with the reason, for the log.
func (f *Fetcher) check(ip netip.Addr) error {
	own, err := f.own()
	if err != nil {
		// Without the box's own addresses the rule cannot be applied.
		return fmt.Errorf("listing the box's addresses: %w", err)
	}
	if reason := f.forbidden(ip, own); reason != "" {
		return fmt.Errorf("%s is a %s address", ip, reason)
	}
	return nil
}

// control runs on the socket about to connect: the last word on where the
// connection goes, whatever the resolver said before.
func (f *Fetcher) control(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("dialling %q: %w", address, err)
	}
	return f.check(ap.Addr())
}

func (f *Fetcher) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip}, nil
	}
	if f.lookup != nil {
		return f.lookup(ctx, host)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// dialContext resolves the host, refuses it if any of its addresses is
// forbidden (a name that also points inside is not one to trust), and
// dials the checked addresses themselves, never the name again.
func (f *Fetcher) dialContext(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, portText, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		port, err := strconv.ParseUint(portText, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("port %q: %w", portText, err)
		}
		ips, err := f.resolve(ctx, host)
		if err != nil {
			return nil, err
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
		for _, ip := range ips {
			if err := f.check(ip); err != nil {
				return nil, fmt.Errorf("%s: %w", host, err)
			}
		}
		var errs []error
		for _, ip := range ips {
			c, err := d.DialContext(ctx, network, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
			if err == nil {
				return c, nil
			}
			errs = append(errs, err)
		}
		return nil, errors.Join(errs...)
	}
}

func (f *Fetcher) client() *http.Client {
	timeout := f.Timeout
	if timeout == 0 {
		timeout = 30 * time.Minute
	}
	d := &net.Dialer{Timeout: 30 * time.Second, Control: f.control}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:                 nil, // a proxy would connect for us, past every check
			DialContext:           f.dialContext(d),
			TLSClientConfig:       &tls.Config{RootCAs: f.RootCAs, MinVersion: tls.VersionTLS12},
			TLSHandshakeTimeout:   30 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			DisableKeepAlives:     true, // one download now and then; nothing to keep
			ForceAttemptHTTP2:     true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > maxRedirects {
				return fmt.Errorf("more than %d redirects", maxRedirects)
			}
			if err := f.checkURL(req.URL); err != nil {
				// Not wrapped: the redirect's target is the server's doing,
				// not the client's input, so it goes to the log only.
				return fmt.Errorf("redirect to %s: %v", logURL(req.URL), err)
			}
			return nil
		},
	}
}

// open starts the download of rawURL. A *fetchInputError says what is
// wrong with the URL itself; any other error is for the log only.
func (f *Fetcher) open(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, &fetchInputError{"the URL cannot be parsed"}
	}
	if err := f.checkURL(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &fetchInputError{"the URL cannot be fetched"}
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, &fetchStatusError{resp.Status}
	}
	return resp.Body, nil
}

// fetchStatusError is the server's own answer; passing it on tells the
// client nothing about the box.
type fetchStatusError struct{ status string }

func (e *fetchStatusError) Error() string { return "the server answered " + e.status }

// logURL is a URL fit for the log: no user info, no query (either may
// carry a secret, like a signed download link).
func logURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.Fragment = nil, "", ""
	return c.String()
}

// fetchBody turns a read error in the middle of the download into
// errFetchBroken and logs the real one.
type fetchBody struct {
	rc  io.ReadCloser
	log func(err error)
}

func (b *fetchBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.log(err)
		return n, errFetchBroken
	}
	return n, err
}

func (b *fetchBody) Close() error { return b.rc.Close() }
