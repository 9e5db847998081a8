package filter

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// The packet path allocates nothing, whatever it does: follow a tracked
// connection, open and evict connections, spend rate tokens for new
// sources, match ICMP errors, look up a large rule set, expire.

func TestNoAllocsTrackedTCP(t *testing.T) {
	f := newFilter(t, issueRules)
	c, s := handshake(t, f, client, web1, 40000, 80, packet.In, t0)
	in := tcp(client, web1, 40000, 80, tcpACK, c, s).frame()
	out := tcp(web1, client, 80, 40000, tcpACK, s, c).frame()
	allocs := testing.AllocsPerRun(1000, func() {
		if f.Decide(in, packet.In, t0) != reason.None || f.Decide(out, packet.Out, t0) != reason.None {
			t.Fatal("dropped")
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet pair", allocs)
	}
}

func TestNoAllocsNewConnectionsEvictionAndRateLimit(t *testing.T) {
	p := testPolicy()
	p.MaxConnections = 64
	p.MaxSources = 16
	p.ConnRate, p.ConnBurst = 1000, 10
	f := New(p)
	rs, _ := rules.Parse("set default block\npass in proto udp to any port 53\npass in proto tcp to any port { 80, 443 }\n")
	f.Load(rs)
	frames := randomTraffic(256, rand.New(rand.NewPCG(3, 3)))
	var seen [reason.Count]int
	i := 0
	now := t0
	allocs := testing.AllocsPerRun(5000, func() {
		fr := frames[i%len(frames)]
		fr.SrcPort++
		now = now.Add(time.Microsecond)
		seen[f.Decide(fr, direction(fr), now)]++
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
	if f.Stats().Evictions == 0 || seen[reason.None] == 0 || seen[reason.FilterBlocked] == 0 {
		t.Fatalf("the run did not exercise eviction, passing and blocking: %+v %v", f.Stats(), seen)
	}
}

func TestNoAllocsRateLimited(t *testing.T) {
	p := testPolicy()
	p.ConnRate, p.ConnBurst = 1, 1
	f := New(p)
	fr := udp(web1, client, 5000, 53).frame()
	limited := 0
	allocs := testing.AllocsPerRun(1000, func() {
		fr.SrcPort++
		if f.Decide(fr, packet.Out, t0) == reason.ConnRateLimited {
			limited++
		}
	})
	if allocs != 0 || limited == 0 {
		t.Fatalf("%v allocations, %d limited", allocs, limited)
	}
}

func TestNoAllocsICMPErrorAndExpire(t *testing.T) {
	f := newFilter(t, "set default block\npass out all\n")
	probe := udp(web1, "192.0.2.99", 33434, 33435)
	expect(t, f, probe, packet.Out, t0, reason.None)
	timex := pkt{src: "192.0.2.1", dst: web1, proto: rules.ProtoICMP, icmpType: 11, quote: quoteOf(probe)}.frame()
	allocs := testing.AllocsPerRun(1000, func() {
		if f.Decide(timex, packet.In, t0) != reason.None {
			t.Fatal("related error dropped")
		}
		f.Expire(t0.Add(time.Second))
	})
	if allocs != 0 {
		t.Fatalf("%v allocations", allocs)
	}
}

func TestNoAllocsLargeRuleSet(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	rs, err := rules.Parse(realisticRules(5000, r))
	if err != nil {
		t.Fatal(err)
	}
	f := New(testPolicy())
	f.Load(rs)
	frames := randomTraffic(512, r)
	i := 0
	allocs := testing.AllocsPerRun(2000, func() {
		fr := frames[i%len(frames)]
		fr.SrcPort++
		f.Decide(fr, direction(fr), t0)
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per packet", allocs)
	}
}
