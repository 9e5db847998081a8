package webui

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rackwall/rackwall/dataplane/reason"
)

func TestMetricsPassLint(t *testing.T) {
	h := newHarness(t, true)
	h.login()
	// A collector registered by the appliance shows up too.
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "rackwall_dropped_frames_total", Help: "Dropped frames by reason."}, []string{"reason"})
	c.WithLabelValues("frag_overlap").Add(3)
	if err := h.srv.Registerer().Register(c); err != nil {
		t.Fatal(err)
	}
	problems, err := testutil.GatherAndLint(h.srv.Gatherer())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(h.srv.Gatherer(), "rackwall_ui_login_attempts_total", "rackwall_dropped_frames_total")
	if err != nil || n != 4 {
		t.Fatalf("count %d, %v", n, err)
	}
}

func TestLoadOrCreateCert(t *testing.T) {
	dir := t.TempDir()
	cert, fp, err := LoadOrCreateCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		t.Fatalf("key %T", leaf.PublicKey)
	}
	if len(fp) != 32*3-1 || fp != Fingerprint(cert.Certificate[0]) {
		t.Fatalf("fingerprint %q", fp)
	}
	if st, _ := os.Stat(filepath.Join(dir, keyFile)); st.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", st.Mode())
	}
	if leaf.NotAfter.Before(time.Now().AddDate(5, 0, 0)) {
		t.Fatal("certificate expires too soon")
	}
	// The second boot loads the same certificate.
	_, fp2, err := LoadOrCreateCert(dir)
	if err != nil || fp2 != fp {
		t.Fatalf("reload: %q %v", fp2, err)
	}
	// A damaged pair is an error, not a silent replacement.
	os.WriteFile(filepath.Join(dir, certFile), []byte("junk"), 0o644)
	if _, _, err := LoadOrCreateCert(dir); err == nil {
		t.Fatal("damaged certificate accepted")
	}
}

func TestLineDiff(t *testing.T) {
	render := func(d []diffLine) string {
		var b strings.Builder
		for _, l := range d {
			b.WriteByte(byte(l.Op))
			b.WriteString(l.Text)
			b.WriteByte('\n')
		}
		return b.String()
	}
	for _, tc := range []struct{ a, b, want string }{
		{"a\nb\nc\n", "a\nb\nc\n", " a\n b\n c\n"},
		{"", "x\n", "+x\n"},
		{"x\n", "", "-x\n"},
		{"a\nb\nc\nd\n", "a\nc\nd\ne\n", " a\n-b\n c\n d\n+e\n"},
		{"a\nx\nb\n", "a\ny\nb\n", " a\n+y\n-x\n b\n"},
		{"a\r\nb\r\n", "a\nb\n", " a\n b\n"},
	} {
		if got := render(lineDiff(tc.a, tc.b)); got != tc.want {
			t.Errorf("diff(%q, %q) =\n%s want\n%s", tc.a, tc.b, got, tc.want)
		}
	}
	// Line numbers refer to each side.
	d := lineDiff("a\nb\nc\n", "a\nc\n")
	if d[1].Op != diffDel || d[1].Old != 2 || d[2].Old != 3 || d[2].New != 2 {
		t.Fatalf("numbers %+v", d)
	}
	// A huge change falls back to remove-all/add-all instead of a huge table.
	var a, b strings.Builder
	for i := 0; i < 3000; i++ {
		a.WriteString("a" + itoa(i) + "\n")
		b.WriteString("b" + itoa(i) + "\n")
	}
	if d := lineDiff(a.String(), b.String()); len(d) != 6000 {
		t.Fatalf("fallback diff has %d lines", len(d))
	}
	hunks := diffHunks(lineDiff("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", "1\n2\n3\n4\n5\nX\n7\n8\n9\n10\n"), 1)
	if len(hunks) != 6 || hunks[0] != nil || hunks[1].Text != "5" || hunks[5] != nil {
		t.Fatalf("hunks %d", len(hunks))
	}
}

func TestSeriesRatesAndRings(t *testing.T) {
	s := newSeries(5 * time.Second)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var drops [reason.Count]uint64
	for i := 0; i <= 400; i++ {
		drops[reason.FragOverlap] += 50 // 10/s
		if i == 200 {
			drops[reason.FragOverlap] = 0 // a dataplane restart resets counters
		}
		s.add(sample{t: t0.Add(time.Duration(i) * 5 * time.Second), drops: drops})
	}
	fine := s.rates(false)
	if len(fine) != int(fineSpan/(5*time.Second)) {
		t.Fatalf("fine ring holds %d rates", len(fine))
	}
	for _, p := range fine {
		if p.drops[reason.FragOverlap] != 10 {
			t.Fatalf("rate %v at %v", p.drops[reason.FragOverlap], p.t)
		}
	}
	coarse := s.rates(true)
	// 400 samples of 5 s = 33 minutes: one coarse sample a minute.
	if len(coarse) != 33 {
		t.Fatalf("coarse has %d rates", len(coarse))
	}
	for _, p := range coarse {
		if v := p.drops[reason.FragOverlap]; v != 10 && v != 0 {
			t.Fatalf("coarse rate %v", v)
		}
	}
	// Time going backwards is ignored.
	s.add(sample{t: t0})
	if len(s.rates(false)) != len(fine) {
		t.Fatal("a backwards sample was added")
	}
}

func TestChartLayout(t *testing.T) {
	end := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	if c := buildChart("x", nil, fineSpan, end); !c.Empty {
		t.Fatal("chart without data not empty")
	}
	var pts []ratePoint
	for i := 0; i < 10; i++ {
		p := ratePoint{t: end.Add(-time.Duration(9-i) * time.Minute)}
		for k := 1; k <= 9; k++ {
			p.drops[k] = float64(k * i)
		}
		pts = append(pts, p)
	}
	c := buildChart("x", pts, fineSpan, end)
	if c.Empty || len(c.Lines) != maxChartLines+1 || c.Lines[maxChartLines].Name != "other" {
		t.Fatalf("lines %d", len(c.Lines))
	}
	if c.Lines[0].Name != reason.Reason(9).String() || c.YMax != "100/s" {
		t.Fatalf("first line %s, ymax %s", c.Lines[0].Name, c.YMax)
	}
	// Every point lies inside the plot.
	for _, l := range c.Lines {
		for _, xy := range strings.Fields(l.Points) {
			var x, y float64
			if _, err := fmtSscan(xy, &x, &y); err != nil || x < float64(c.PlotX) || x > float64(c.PlotX+c.PlotW) || y < float64(c.PlotY) || y > float64(c.PlotY+c.PlotH) {
				t.Fatalf("point %s outside the plot", xy)
			}
		}
	}
	for _, tc := range []struct{ in, want float64 }{{0, 1}, {0.3, 0.5}, {7, 10}, {11, 20}, {450, 500}, {1000, 1000}} {
		if got := niceCeil(tc.in); got != tc.want {
			t.Errorf("niceCeil(%v) = %v", tc.in, got)
		}
	}
}

func TestRunSamplesAndRelaysEvents(t *testing.T) {
	h := newHarness(t, true)
	h.srv.opts.SampleEvery = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- h.srv.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Second)
	for len(h.srv.recent.list()) == 0 && time.Now().Before(deadline) {
		h.fb.Publish(Event{Kind: EventBypass, Message: "bypass on"})
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	if ev := h.srv.recent.list(); len(ev) == 0 || ev[0].Message != "bypass on" {
		t.Fatalf("events %+v", ev)
	}
	h.srv.series.mu.Lock()
	n := h.srv.series.fine.n
	h.srv.series.mu.Unlock()
	if n == 0 {
		t.Fatal("no samples taken")
	}
}

func fmtSscan(s string, x, y *float64) (int, error) {
	return fmt.Sscanf(s, "%f,%f", x, y)
}
