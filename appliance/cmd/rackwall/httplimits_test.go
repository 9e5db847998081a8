package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// shortLimits are uiLimits scaled down so a test can outlast them.
var shortLimits = serverLimits{
	readHeader: 200 * time.Millisecond, read: 400 * time.Millisecond, write: 400 * time.Millisecond,
	idle: time.Second, upload: 5 * time.Second, download: 5 * time.Second,
}

// serveLimited serves h with newHTTPServer on loopback and returns the address.
func serveLimited(t *testing.T, h http.Handler, lim serverLimits) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newHTTPServer(h, lim)
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// slowPost sends a POST whose body trickles in over about a second, then
// reads the answer. It returns the status, or an error if the server cut
// the connection.
func slowPost(addr, path string) (int, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	const chunks = 5
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: box\r\nContent-Length: %d\r\n\r\n", path, chunks)
	for i := 0; i < chunks; i++ {
		time.Sleep(200 * time.Millisecond)
		if _, err := c.Write([]byte("x")); err != nil {
			return 0, err
		}
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "got 5 bytes" {
		return 0, fmt.Errorf("status %d, body %q", resp.StatusCode, body)
	}
	return resp.StatusCode, nil
}

// A bundle upload may take far longer than any other request to send and
// to answer; every other route keeps the short read and write timeouts.
func TestUploadRoutesGetLongerDeadlines(t *testing.T) {
	mux := http.NewServeMux()
	readAll := func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestTimeout)
			return
		}
		fmt.Fprintf(w, "got %d bytes", len(b))
	}
	slowAnswer := func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(800 * time.Millisecond) // the box writing a slot
		io.WriteString(w, "done")
	}
	mux.HandleFunc("POST /api/update", readAll)
	mux.HandleFunc("POST /system/update", readAll)
	mux.HandleFunc("POST /api/rules", readAll)
	mux.HandleFunc("POST /api/update/fetch", slowAnswer)
	mux.HandleFunc("GET /api/capture.pcapng", slowAnswer)
	mux.HandleFunc("GET /capture.pcapng", slowAnswer)
	mux.HandleFunc("GET /api/export", slowAnswer)
	addr := serveLimited(t, mux, shortLimits)

	for _, path := range []string{"/api/update", "/system/update"} {
		if code, err := slowPost(addr, path); err != nil || code != http.StatusOK {
			t.Errorf("slow upload to %s: %d, %v; want it to finish", path, code, err)
		}
	}
	if code, err := slowPost(addr, "/api/rules"); err == nil {
		t.Errorf("a slow body to /api/rules finished (%d) past the read timeout", code)
	}

	client := &http.Client{Timeout: 5 * time.Second}
	for _, c := range []struct {
		method, path string
		long         bool
	}{
		{"POST", "/api/update/fetch", true},
		{"GET", "/api/capture.pcapng", true},
		{"GET", "/capture.pcapng", true},
		{"GET", "/api/export", false},
	} {
		req, _ := http.NewRequest(c.method, "http://"+addr+c.path, strings.NewReader(""))
		resp, err := client.Do(req)
		ok := err == nil && resp.StatusCode == http.StatusOK
		if ok {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			ok = string(b) == "done"
		}
		if ok != c.long {
			t.Errorf("%s %s answering after the write timeout: delivered %v, want %v (err %v)", c.method, c.path, ok, c.long, err)
		}
	}
}

// A client that sends half a request header and stalls is cut off at the
// header timeout, not kept until it gives up.
func TestStalledHeaderIsCutOff(t *testing.T) {
	addr := serveLimited(t, http.NotFoundHandler(), shortLimits)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: bo")
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.ReadAll(c) // until the server closes
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a stalled header was held %v; the header timeout is %v", d, shortLimits.readHeader)
	}
}
