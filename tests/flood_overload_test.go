package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/control"
	"github.com/rackwall/rackwall/tests/lab"
)

// overloadFlood is how long TestOverloadNeverFailsOpen floods the box: well
// beyond the appliance's 2 s liveness limit and its three probe failures.
const overloadFlood = 60 * time.Second

// overloadPort is the UDP port the rule set blocks; the flood's other
// frames go to overloadOpenPort, which the rules let through.
const (
	overloadPort     = 9
	overloadOpenPort = 10
)

// TestOverloadNeverFailsOpen floods the appliance (which supervises the
// dataplane with the shipped fail_mode: open) from both sides at the
// highest rate this host can offer, for a minute: minimum-size UDP frames
// the rules block, minimum-size frames the rules pass (each costs the
// dataplane a transmit), and first fragments the F rules drop, from four
// senders. The dataplane's receive rings overflow (it is truly overloaded),
// yet the dataplane must never be restarted, the fail-open bypass never
// entered, and nothing the policy drops may reach the victims: an
// nftables counter at each victim's interface counts every blocked frame
// and every fragment that arrives. A box that took "busy" for "stuck"
// would kill its dataplane and bridge the flood straight through.
//
// Quarantine is held off (quarantine_threshold at its maximum) so the
// flooders' frames are judged one by one for the whole minute instead of
// being cut cheaply in the kernel after the first few milliseconds: the
// hardest load the packet loop can be given.
func TestOverloadNeverFailsOpen(t *testing.T) {
	l := newLab(t, 3, "nft")
	bin := buildAppliance(t)
	app := startAppliance(t, l, bin, t.TempDir())
	ctl := waitDataplaneForwarding(t, app)
	if err := l.WaitForwarding(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// Policy and rules go to the dataplane the appliance runs, through its
	// control socket: what is under test is the packet loop and its
	// supervision, not the configuration pages.
	ctx := context.Background()
	if err := ctl.PutPolicy(ctx, "quarantine_threshold: 10000000\n"); err != nil {
		t.Fatal(err)
	}
	if err := ctl.PutRules(ctx, fmt.Sprintf("block proto udp to any port %d\n", overloadPort)); err != nil {
		t.Fatal(err)
	}

	client, s1, s2, s3 := l.ClientIf, l.ServerIf[0], l.ServerIf[1], l.ServerIf[2]
	victims := []victimCounter{
		{ns: l.ClientNS, ifname: client},
		{ns: l.Server(2), ifname: s2},
	}
	for _, v := range victims {
		v.install(t, l)
	}

	// Frames: toward s2 from the client (the uplink side) and toward the
	// client from s1 and s3 (the rack side), so both packet loops are
	// flooded. Blocked and passed frames vary the source port over a few
	// flows; fragments carry a new IP ID each, so none completes.
	flows := func(dstIf, srcIf string, src, dst int, dport uint16, n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, lab.MinUDP4Frame(l.MAC(dstIf), l.MAC(srcIf), hostV4(src), hostV4(dst), uint16(20000+i%8), dport))
		}
		return out
	}
	frags := func(dstIf, srcIf string, src, dst int, n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, lab.TinyFragment4Frame(l.MAC(dstIf), l.MAC(srcIf), hostV4(src), hostV4(dst), uint16(i+1), overloadPort))
		}
		return out
	}
	interleave := func(a, b [][]byte) [][]byte {
		var out [][]byte
		for i := range a {
			out = append(out, a[i], b[i%len(b)])
		}
		return out
	}
	senders := []lab.BlastSender{
		{Port: lab.Port{NS: l.ClientNS, If: client},
			Frames: interleave(flows(s2, client, 0, 2, overloadPort, 256), flows(s2, client, 0, 2, overloadOpenPort, 256))},
		{Port: lab.Port{NS: l.ClientNS, If: client}, Frames: frags(s2, client, 0, 2, 4096)},
		{Port: lab.Port{NS: l.Server(1), If: s1},
			Frames: interleave(flows(client, s1, 1, 0, overloadPort, 256), flows(client, s1, 1, 0, overloadOpenPort, 256))},
		{Port: lab.Port{NS: l.Server(3), If: s3}, Frames: interleave(frags(client, s3, 3, 0, 4096), flows(client, s3, 3, 0, overloadPort, 256))},
	}
	blaster, err := lab.NewBlaster(senders...)
	if err != nil {
		t.Fatal(err)
	}
	defer blaster.Close()

	pid0 := dataplanePID(t, app.PID())
	starts0 := strings.Count(app.Output(), `msg="starting dataplane"`)
	before, err := ctl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	health := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: lab.HTTPClient(l.BoxNS, 5*time.Second).Transport.(*http.Transport).DialContext}}
	blaster.Start()
	start := time.Now()
	var polls, unanswered, unhealthy, bypassPolls int
	var worstAge time.Duration
	pidChanged := ""
	for time.Since(start) < overloadFlood {
		time.Sleep(500 * time.Millisecond)
		// The kernel bridge of the fail-open bypass, looked at directly.
		if out, _ := l.Exec(l.BoxNS, "ip", "-o", "link", "show", "type", "bridge"); strings.TrimSpace(string(out)) != "" {
			bypassPolls++
		}
		if kids := childPIDs(app.PID()); (len(kids) != 1 || kids[0] != pid0) && pidChanged == "" {
			pidChanged = fmt.Sprintf("%v after %v", kids, time.Since(start).Round(time.Second))
		}
		if st, err := ctl.Status(ctx); err == nil {
			for _, p := range st.Health.Ports {
				worstAge = max(worstAge, p.ProgressAge)
			}
		}
		resp, err := health.Get("http://" + applianceListen + "/healthz")
		if err != nil {
			unanswered++
			continue
		}
		resp.Body.Close()
		polls++
		if resp.StatusCode != http.StatusOK {
			unhealthy++
		}
	}
	sent, refused := blaster.Stop()
	floodTime := time.Since(start)
	time.Sleep(500 * time.Millisecond) // the last frames in flight arrive or are dropped

	after, err := ctl.Status(ctx)
	if err != nil {
		t.Fatalf("dataplane status after the flood: %v", err)
	}
	restarts := strings.Count(app.Output(), `msg="starting dataplane"`) - starts0
	bypassLog := strings.Count(app.Output(), "bypass on (fail-open)") + strings.Count(app.Output(), "bypass on:")
	var offered, refusedAll int64
	for i := range sent {
		offered += sent[i]
		refusedAll += refused[i]
	}
	var leaked int64
	for _, v := range victims {
		n := v.read(t, l)
		t.Logf("victim %s: %d blocked frames and %d fragments arrived, %d passed frames", v.ifname, n.blocked, n.fragments, n.passed)
		leaked += n.blocked + n.fragments
	}
	var rx, fwd, ringDrops uint64
	drops := map[string]uint64{}
	for i := range after.Counters.Ports {
		a, b := after.Counters.Ports[i], before.Counters.Ports[i]
		rx += a.RxFrames - b.RxFrames
		fwd += a.Forwarded - b.Forwarded
		ringDrops += a.RingDrops - b.RingDrops
		for k, v := range a.Drops {
			if d := v - b.Drops[k]; d != 0 {
				drops[k] += d
			}
		}
	}
	t.Logf("flood: %v, %d senders, %d frames offered (%.0f frames/s), %d refused by the senders' links",
		floodTime.Round(time.Second), len(sent), offered, float64(offered)/floodTime.Seconds(), refusedAll)
	t.Logf("dataplane: %d frames received, %d forwarded, %d lost to full receive rings, drops %v, oldest progress seen %v",
		rx, fwd, ringDrops, drops, worstAge.Round(time.Millisecond))
	t.Logf("appliance: restarts %d, bypass %d polls (%d log lines), healthz %d answered (%d unhealthy, %d unanswered), dataplane pid %d then %v; leaked %d",
		restarts, bypassPolls, bypassLog, polls, unhealthy, unanswered, pid0, childPIDs(app.PID()), leaked)

	if restarts != 0 || pidChanged != "" {
		t.Errorf("the dataplane was restarted under the flood: %d restarts, pid %d became %s\nappliance output:\n%s",
			restarts, pid0, pidChanged, tail(app.Output(), 4096))
	}
	if bypassPolls != 0 || bypassLog != 0 {
		t.Errorf("the fail-open bypass was entered under the flood (%d polls, %d log lines)", bypassPolls, bypassLog)
	}
	if unhealthy != 0 {
		t.Errorf("/healthz answered unhealthy %d times under the flood", unhealthy)
	}
	if leaked != 0 {
		t.Errorf("%d frames the policy drops reached the victims", leaked)
	}
	// The flood has to overload the box for the test to mean anything: a
	// dataplane that kept up would come round to waiting between batches
	// and never test the liveness judgement at all.
	if ringDrops == 0 {
		t.Errorf("no receive ring overflowed: %d frames in %v did not overload the dataplane", offered, floodTime.Round(time.Second))
	}
}

// dataplaneControl is where the appliance's log says it put the
// dataplane's control socket.
var dataplaneControl = regexp.MustCompile(`--control (\S+)`)

// waitDataplaneForwarding waits until the appliance reports its dataplane
// forwarding and returns a client for the dataplane's control socket.
func waitDataplaneForwarding(t *testing.T, app *lab.Proc) *control.Client {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(app.Output(), "bypass off: the dataplane forwards") {
		if time.Now().After(deadline) {
			t.Fatalf("the appliance's dataplane did not forward within 30 s:\n%s", tail(app.Output(), 4096))
		}
		time.Sleep(100 * time.Millisecond)
	}
	m := dataplaneControl.FindStringSubmatch(app.Output())
	if m == nil {
		t.Fatalf("no control socket in the appliance's log:\n%s", tail(app.Output(), 4096))
	}
	return control.Dial(m[1])
}

// hostV4 is the lab address of host i: 0 the client, 1..9 the servers.
func hostV4(i int) netip.Addr {
	if i == 0 {
		return lab.ClientV4
	}
	return lab.ServerV4(i)
}

// dataplanePID is the appliance's one child, the dataplane.
func dataplanePID(t *testing.T, appPID int) int {
	t.Helper()
	kids := childPIDs(appPID)
	if len(kids) != 1 {
		t.Fatalf("appliance children = %v, want the one dataplane", kids)
	}
	return kids[0]
}

// victimCounter counts, in an nftables netdev table on a victim's
// interface, what arrives there: frames to the blocked port, IPv4
// fragments, and (for scale) frames to the port the rules pass. The
// ingress hook sees every frame before the victim's stack does anything
// with it.
type victimCounter struct {
	ns, ifname string
}

type victimCounts struct{ blocked, fragments, passed int64 }

func (v victimCounter) table() string { return "rwflood" }

func (v victimCounter) install(t *testing.T, l *lab.Lab) {
	t.Helper()
	ruleset := fmt.Sprintf(`table netdev %[1]s {
	counter blocked {}
	counter fragments {}
	counter passed {}
	chain ingress {
		type filter hook ingress device "%[2]s" priority 0;
		ip frag-off & 0x3fff != 0 counter name fragments
		ip frag-off & 0x3fff == 0 udp dport %[3]d counter name blocked
		ip frag-off & 0x3fff == 0 udp dport %[4]d counter name passed
	}
}
`, v.table(), v.ifname, overloadPort, overloadOpenPort)
	if out, err := l.ExecStdin(v.ns, ruleset, "nft", "-f", "-"); err != nil {
		t.Fatalf("nft in %s: %v\n%s", v.ns, err, out)
	}
}

var nftPackets = regexp.MustCompile(`packets (\d+)`)

func (v victimCounter) read(t *testing.T, l *lab.Lab) victimCounts {
	t.Helper()
	get := func(name string) int64 {
		out, err := l.Exec(v.ns, "nft", "list", "counter", "netdev", v.table(), name)
		if err != nil {
			t.Fatalf("nft list counter %s in %s: %v\n%s", name, v.ns, err, out)
		}
		m := nftPackets.FindSubmatch(out)
		if m == nil {
			t.Fatalf("nft counter %s: no packet count in %q", name, out)
		}
		n, _ := strconv.ParseInt(string(m[1]), 10, 64)
		return n
	}
	return victimCounts{blocked: get("blocked"), fragments: get("fragments"), passed: get("passed")}
}
