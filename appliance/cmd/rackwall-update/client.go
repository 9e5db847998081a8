package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"
)

// client talks to one box's UI with an API token, or with a session
// (cookie + CSRF header) it logs in for with the admin password.
type client struct {
	base string
	cred credentials
	http *http.Client
	csrf string
}

// credentials are an API token or the admin password, or both for a
// downgrade (the token signs in, the password confirms).
type credentials struct {
	token, password string
}

// status is the part of the box's /api/update/status this command reads.
type status struct {
	Running        string `json:"running_slot"`
	RunningVersion int64  `json:"running_version"`
	Trial          bool   `json:"trial"`
	Blessed        bool   `json:"blessed"`
	Health         string `json:"health"`
	Last           *struct {
		Result  string `json:"result"`
		Reason  string `json:"reason"`
		Version int64  `json:"version"`
	} `json:"last"`
}

func newClient(base string, cred credentials, tlsCfg *tls.Config) *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: base, cred: cred, http: &http.Client{
		Jar:       jar,
		Transport: &http.Transport{TLSClientConfig: tlsCfg, Proxy: http.ProxyFromEnvironment},
	}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func findCSRF(page string) string {
	m := csrfField.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

func (c *client) get(ctx context.Context, path string, timeout time.Duration) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error { err := c.ReadCloser.Close(); c.cancel(); return err }

// authorize adds the API token to req; a session travels in the cookie jar.
func (c *client) authorize(req *http.Request) {
	if c.cred.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.cred.token)
	} else {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
}

// login runs the browser login: the login form's CSRF token, the password,
// then the CSRF token of the logged-in session (from any page's forms).
// With an API token there is nothing to log in to.
func (c *client) login(ctx context.Context) error {
	if c.cred.token != "" {
		return nil
	}
	resp, err := c.get(ctx, "/login", 15*time.Second)
	if err != nil {
		return fmt.Errorf("reaching the box: %w", err)
	}
	page, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	token := findCSRF(string(page))
	if token == "" {
		return fmt.Errorf("the box's login page (%s) has no form: is the first-run setup done?", resp.Status)
	}
	form := url.Values{"csrf": {token}, "password": {c.cred.password}}
	lctx, cancel := context.WithTimeout(ctx, 2*time.Minute) // bcrypt on a small box
	defer cancel()
	req, _ := http.NewRequestWithContext(lctx, http.MethodPost, c.base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err = c.http.Do(req)
	if err != nil {
		return err
	}
	page, _ = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		return errors.New("the box refused the password")
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("login: %s", resp.Status)
	}
	c.csrf = findCSRF(string(page))
	if c.csrf == "" {
		return errors.New("logged in, but the box's page carries no CSRF token")
	}
	return nil
}

func (c *client) status(ctx context.Context) (status, error) {
	var st status
	resp, err := c.get(ctx, "/api/update/status", 10*time.Second)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusUnauthorized {
		if c.cred.token != "" {
			return st, errors.New("the box refused the API token")
		}
		return st, errUnauthorized
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("update status: %s", resp.Status)
	}
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

var errUnauthorized = errors.New("session expired")

// statusRelogin logs in again when the box lost the session (it rebooted).
func (c *client) statusRelogin(ctx context.Context) (status, error) {
	st, err := c.status(ctx)
	if errors.Is(err, errUnauthorized) {
		if err := c.login(ctx); err != nil {
			return st, err
		}
		return c.status(ctx)
	}
	return st, err
}

// upload streams the bundle with a progress line.
func (c *client) upload(ctx context.Context, path string, downgrade bool, out io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	pr := &progressReader{r: f, total: info.Size(), out: out, start: time.Now()}
	u := c.base + "/api/update"
	if downgrade {
		u += "?allow_downgrade=1"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, pr)
	if err != nil {
		return err
	}
	req.ContentLength = info.Size()
	req.Header.Set("Content-Type", "application/octet-stream")
	if downgrade {
		// The box confirms a downgrade with the admin password itself,
		// whether the request is signed in by session or by token.
		req.Header.Set("X-Admin-Password", c.cred.password)
	}
	c.authorize(req)
	resp, err := c.http.Do(req)
	pr.finish()
	if err != nil {
		return fmt.Errorf("upload: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Error   string `json:"error"`
		Refused bool   `json:"refused"`
	}
	json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body)
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil
	case body.Refused:
		return fmt.Errorf("the box refused the bundle: %s", body.Error)
	case body.Error != "":
		return fmt.Errorf("upload failed (%s): %s", resp.Status, body.Error)
	default:
		return fmt.Errorf("upload failed: %s", resp.Status)
	}
}

// waitDown waits until the box stops answering (it reboots).
func (c *client) waitDown(ctx context.Context, before status) error {
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := c.get(ctx, "/api/update/status", 3*time.Second)
		if err != nil {
			return nil
		}
		var st status
		decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&st)
		resp.Body.Close()
		// A box that forgot the session has restarted (sessions live in
		// memory), even if it came back before a poll saw it down. An API
		// token outlives the reboot; a box that answers it with another
		// running slot or another last result has restarted too.
		if resp.StatusCode == http.StatusUnauthorized {
			return nil
		}
		if resp.StatusCode == http.StatusOK && decodeErr == nil && restarted(before, st) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return errors.New("the box did not reboot within 2 minutes after accepting the bundle")
}

// restarted says whether the box's update status changed in a way only a
// reboot after an upload changes it.
func restarted(before, now status) bool {
	if now.Running != before.Running || now.RunningVersion != before.RunningVersion {
		return true
	}
	type result struct {
		r string
		v int64
	}
	last := func(s status) result {
		if s.Last == nil {
			return result{}
		}
		return result{s.Last.Result, s.Last.Version}
	}
	return last(now) != last(before) && (last(now).r == "success" || last(now).r == "failed")
}

// progressReader prints upload progress as net/http reads the body. The
// transport may still be reading (in its own goroutine) when the box has
// already answered, as it does when it refuses a bundle early, so the
// printing state is guarded and nothing is printed after finish.
type progressReader struct {
	r     io.Reader
	total int64
	out   io.Writer
	start time.Time

	mu     sync.Mutex
	n      int64
	last   time.Time
	inline bool
	done   bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(n)
	if !p.done && (time.Since(p.last) > 500*time.Millisecond || err == io.EOF) {
		p.last = time.Now()
		pct := 100.0
		if p.total > 0 {
			pct = float64(p.n) * 100 / float64(p.total)
		}
		rate := float64(p.n) / time.Since(p.start).Seconds() / (1 << 20)
		fmt.Fprintf(p.out, "\ruploading %5.1f%% (%d of %d MiB, %.1f MiB/s)", pct, p.n>>20, p.total>>20, rate)
		p.inline = true
	}
	return n, err
}

func (p *progressReader) finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.inline {
		fmt.Fprintln(p.out, "\n(the box writes and verifies the slot before it answers)")
	}
}
