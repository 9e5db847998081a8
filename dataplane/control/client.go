package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
)

// Client speaks the control API.
type Client struct {
	hc   *http.Client
	base string
}

// Dial returns a client for the control socket at path. It connects per
// request, so it can be made before the dataplane is up.
func Dial(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		MaxIdleConns:    2,
		IdleConnTimeout: 30 * time.Second,
	}
	// The host part is never resolved; it only names the socket in errors.
	return &Client{hc: &http.Client{Transport: tr}, base: "http://rackwall-dataplane"}
}

// NewClient returns a client for an API served at baseURL over hc.
func NewClient(hc *http.Client, baseURL string) *Client {
	return &Client{hc: hc, base: strings.TrimRight(baseURL, "/")}
}

// APIError is a request the server refused; Message carries its reason
// (for rules and policy texts, with line and column).
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string { return fmt.Sprintf("control: %d: %s", e.Status, e.Message) }

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var eb errorBody
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &eb) != nil || eb.Error == "" {
			eb.Error = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: eb.Error}
	}
	return resp, nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	resp, err := c.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(out)
}

func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType string) error {
	resp, err := c.do(ctx, method, path, body, contentType)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// Status returns counters, health, stage state and the running policy.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var st Status
	if err := c.getJSON(ctx, "/status", &st); err != nil {
		return nil, err
	}
	for i := range st.Counters.Ports {
		p := &st.Counters.Ports[i]
		for name, n := range p.Drops {
			if r, ok := reason.Parse(name); ok {
				p.DropsByReason[r] = n
			}
		}
	}
	return &st, nil
}

// Sources returns up to top sources with the most recent violations.
func (c *Client) Sources(ctx context.Context, top int) ([]Source, error) {
	var out []Source
	err := c.getJSON(ctx, "/sources?top="+strconv.Itoa(top), &out)
	return out, err
}

// Source returns one source ("192.0.2.7", "2001:db8::/64", "mac-02:…").
func (c *Client) Source(ctx context.Context, key string) (*Source, error) {
	var out Source
	if err := c.getJSON(ctx, "/sources/"+url.PathEscape(key), &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Quarantined lists the sources quarantined now.
func (c *Client) Quarantined(ctx context.Context) ([]QuarantineEntry, error) {
	var out []QuarantineEntry
	err := c.getJSON(ctx, "/quarantine", &out)
	return out, err
}

// Quarantine quarantines a source by hand for d.
func (c *Client) Quarantine(ctx context.Context, src string, d time.Duration, by string) error {
	b, err := json.Marshal(QuarantineRequest{Source: src, Duration: d.String(), By: by})
	if err != nil {
		return err
	}
	return c.send(ctx, http.MethodPost, "/quarantine", bytes.NewReader(b), "application/json")
}

// Release lifts a source's quarantine.
func (c *Client) Release(ctx context.Context, src, by string) error {
	return c.send(ctx, http.MethodDelete, "/quarantine/"+url.PathEscape(src)+"?by="+url.QueryEscape(by), nil, "")
}

// Capture writes the dropped frames as pcapng to w, optionally only those
// of one reason label and/or one source; it returns the bytes written.
func (c *Client) Capture(ctx context.Context, w io.Writer, reasonName, src string) (int64, error) {
	q := url.Values{}
	if reasonName != "" {
		q.Set("reason", reasonName)
	}
	if src != "" {
		q.Set("source", src)
	}
	path := "/capture.pcapng"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	resp, err := c.do(ctx, http.MethodGet, path, nil, "")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	return io.Copy(w, resp.Body)
}

// Events returns the quarantine events after since (0: all held).
func (c *Client) Events(ctx context.Context, since uint64) ([]Event, error) {
	var out []Event
	err := c.getJSON(ctx, "/events?since="+strconv.FormatUint(since, 10), &out)
	return out, err
}

// PutRules replaces the filter rules; a text with an error is refused with
// an *APIError naming its line and column.
func (c *Client) PutRules(ctx context.Context, text string) error {
	return c.send(ctx, http.MethodPut, "/rules", strings.NewReader(text), "text/plain; charset=utf-8")
}

// PutPolicy replaces the policy, like PutRules.
func (c *Client) PutPolicy(ctx context.Context, text string) error {
	return c.send(ctx, http.MethodPut, "/policy", strings.NewReader(text), "text/plain; charset=utf-8")
}
