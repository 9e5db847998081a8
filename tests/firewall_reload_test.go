package tests

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/rules"
	"github.com/rackwall/rackwall/tests/lab"
)

// iperfInterval is one -i 1 report of `iperf3 -J`.
type iperfInterval struct {
	Sum struct {
		Start float64 `json:"start"`
		End   float64 `json:"end"`
		Bytes int64   `json:"bytes"`
	} `json:"sum"`
}

func parseIperfIntervals(out string) ([]iperfInterval, error) {
	i, j := strings.Index(out, "{"), strings.LastIndex(out, "}")
	if i < 0 || j < i {
		return nil, fmt.Errorf("no JSON in iperf3 output: %q", logTail(out, 512))
	}
	var doc struct {
		Intervals []iperfInterval `json:"intervals"`
		Error     string          `json:"error"`
	}
	if err := json.Unmarshal([]byte(out[i:j+1]), &doc); err != nil {
		return nil, err
	}
	if doc.Error != "" {
		return nil, errors.New(doc.Error)
	}
	return doc.Intervals, nil
}

// A SIGHUP with a changed rules file swaps the rules under a running
// transfer without disturbing it; a file with an error is refused with its
// line and column and the running rules keep working.
func TestFirewallReload(t *testing.T) {
	fw := startFirewall(t, "web.rules", 1, "iperf3")
	l := fw.l
	defer explainFailure(t, fw.dp, nil)
	s1 := lab.ServerV4(1)
	for _, p := range []int{80, 8080} {
		echoServer(t, l.Server(1), s1, p)
	}
	if _, err := l.IperfServer(l.Server(1), 5201); err != nil {
		t.Fatal(err)
	}
	original, err := os.ReadFile(fw.rules)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("transfer survives a reload", func(t *testing.T) {
		iperf, err := l.Start(l.ClientNS, "iperf3", "-J", "-c", s1.String(), "-p", "5201", "-t", "8", "-i", "1")
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		time.Sleep(2 * time.Second)
		// An unrelated rule, placed before "pass out all".
		changed := strings.Replace(string(original), "pass out all",
			"block in proto udp from 198.51.100.0/24 to any port 53\npass out all", 1)
		if changed == string(original) {
			t.Fatal("web.rules has no \"pass out all\" line to insert before")
		}
		fw.rewriteRules(t, changed)
		line := fw.reload(t, "rules reloaded")
		reloadAt := time.Since(start).Seconds()
		t.Logf("reloaded %.1fs into the transfer: %s", reloadAt, line)
		if err := iperf.Wait(30 * time.Second); err != nil {
			t.Fatalf("iperf3: %v\n%s", err, logTail(iperf.Output(), 1024))
		}
		ivs, err := parseIperfIntervals(iperf.Output())
		if err != nil {
			t.Fatal(err)
		}
		if len(ivs) < 8 {
			t.Fatalf("iperf3 reported %d intervals, want 8", len(ivs))
		}
		var before, after []float64
		var report []string
		for _, iv := range ivs {
			mbit := float64(iv.Sum.Bytes) * 8 / (iv.Sum.End - iv.Sum.Start) / 1e6
			report = append(report, fmt.Sprintf("%.0f", mbit))
			if iv.Sum.Bytes == 0 {
				t.Errorf("interval %.0f-%.0fs moved 0 bytes", iv.Sum.Start, iv.Sum.End)
			}
			// The interval holding the reload belongs to neither side.
			switch {
			case iv.Sum.End <= reloadAt-0.2:
				before = append(before, mbit)
			case iv.Sum.Start >= reloadAt+0.2:
				after = append(after, mbit)
			}
		}
		t.Logf("Mbit/s per second of the transfer: %s", strings.Join(report, " "))
		if len(before) == 0 || len(after) == 0 {
			t.Fatalf("intervals before (%d) or after (%d) the reload missing", len(before), len(after))
		}
		// A generous bound: the host is shared, so only a collapse counts.
		if mb, ma := mean(before), mean(after); ma < 0.2*mb {
			t.Errorf("throughput after the reload %.0f Mbit/s, before %.0f Mbit/s: the transfer collapsed", ma, mb)
		}
		expectAllowed(t, l.ClientNS, s1, 80)
		expectBlocked(t, l.ClientNS, s1, 8080)
	})

	t.Run("reload that closes a port cuts its open connections", func(t *testing.T) {
		c, err := lab.Dial(l.ClientNS, "tcp", hostPort(s1, 80), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		r := bufio.NewReader(c)
		if err := echoLine(c, r, "before the reload\n", 5*time.Second); err != nil {
			t.Fatalf("open connection to %s: %v", hostPort(s1, 80), err)
		}
		closed := strings.Replace(string(original), "port { 80, 443, 5201 }", "port { 443, 5201 }", 1)
		fw.rewriteRules(t, closed)
		fw.reload(t, "rules reloaded")
		before := fw.drops(t)
		// filter/doc.go: a connection made under older rules is re-checked
		// on its next packet and dropped as filter_blocked if its first
		// packet would no longer pass.
		if err := echoLine(c, r, "after the reload\n", 2*time.Second); err == nil {
			t.Errorf("connection to %s still carries data after a reload that closed port 80", hostPort(s1, 80))
		} else if !isTimeout(err) {
			t.Errorf("connection to %s after the reload: %v, want a timeout (a silent drop)", hostPort(s1, 80), err)
		}
		if d := fw.waitDropped(t, before, "filter_blocked", 1); d["filter_blocked"] < 1 {
			t.Errorf("segment of the cut connection not counted as filter_blocked; drops changed by %v", d)
		}
		fw.rewriteRules(t, string(original))
		fw.reload(t, "rules reloaded")
		expectAllowed(t, l.ClientNS, s1, 80)
	})

	t.Run("file with an error is refused", func(t *testing.T) {
		// Line 5 misspells "proto" in a rule that would also open 8080:
		// if any of the file were applied, 8080 would open.
		lines := strings.Split(string(original), "\n")
		const bad = 5
		if !strings.HasPrefix(lines[bad-1], "pass in proto tcp") {
			t.Fatalf("web.rules line %d is %q, want the web rule", bad, lines[bad-1])
		}
		lines[bad-1] = "pass in prot tcp from any to <web> port { 80, 443, 5201, 8080 }"
		broken := strings.Join(lines, "\n")
		_, perr := rules.Parse(broken)
		var syn *rules.SyntaxError
		if !errors.As(perr, &syn) || syn.Line != bad {
			t.Fatalf("rules.Parse of the broken file: %v, want a syntax error on line %d", perr, bad)
		}
		fw.rewriteRules(t, broken)
		line := fw.reload(t, "rules reload refused")
		t.Logf("dataplane: %s", line)
		if want := fmt.Sprintf("line %d, column %d", syn.Line, syn.Col); !strings.Contains(line, want) {
			t.Errorf("refusal does not name %s: %s", want, line)
		}
		expectBlocked(t, l.ClientNS, s1, 8080)
		expectAllowed(t, l.ClientNS, s1, 80)
		if _, err := l.Iperf(l.ClientNS, s1.String(), "-p", "5201", "-t", "1"); err != nil {
			t.Errorf("iperf3 after the refused reload: %v", err)
		}
	})
}

// echoLine sends msg on an open echo connection and reads it back.
func echoLine(c net.Conn, r *bufio.Reader, msg string, timeout time.Duration) error {
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got, err := r.ReadString('\n')
	if err != nil {
		return err
	}
	if got != msg {
		return fmt.Errorf("echo %q, sent %q", got, msg)
	}
	return nil
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
