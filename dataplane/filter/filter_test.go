package filter

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/dataplane/rules"
)

const (
	client  = "198.51.100.7" // on the uplink side
	web1    = "10.77.0.21"   // in the rack
	web6    = "fd77::21"
	client6 = "2001:db8:5::7"
)

const issueRules = `# comment
set default block
table <web> { 10.77.0.21, 10.77.0.22, fd77::/64 }
pass in proto tcp from any to <web> port { 80, 443, 5201 }
pass in proto icmp
pass in proto ipv6-icmp
block in quick from 203.0.113.0/24
pass out all
`

func TestFW1FirstMatchDecides(t *testing.T) {
	f := newFilter(t, `
pass in proto tcp to 10.77.0.21 port 22
block in proto tcp to 10.77.0.0/24
pass in all
`)
	expect(t, f, tcp(client, web1, 40000, 22, tcpSYN, 1, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(client, web1, 40001, 80, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	expect(t, f, tcp(client, "10.77.1.5", 40002, 80, tcpSYN, 1, 0), packet.In, t0, reason.None)
	v := f.Judge(tcp(client, web1, 40003, 80, tcpSYN, 1, 0).frame(), packet.In, t0)
	if v.Rule != 1 {
		t.Fatalf("decided by rule %d, want 1", v.Rule)
	}
}

// Quick rules are checked first; Verdict.Rule and Log come from the rule
// that decided, named by its index in the file.
func TestFW1QuickRulesDecideFirst(t *testing.T) {
	f := newFilter(t, `
pass in proto tcp to 10.77.0.0/24 port 80
block in proto tcp
pass in quick proto tcp from 198.51.100.0/24 to any port 22
block in log quick proto tcp to 10.77.0.21
`)
	cases := []struct {
		src, dst string
		port     uint16
		rule     int32
		r        reason.Reason
		log      bool
	}{
		{client, web1, 80, 3, reason.FilterBlocked, true}, // the quick block beats the pass above it
		{client, web1, 22, 2, reason.None, false},         // the upper quick rule wins among quick ones
		{client, "10.77.0.22", 80, 0, reason.None, false}, // no quick rule: file order
		{client, "10.77.0.22", 23, 1, reason.FilterBlocked, false},
		{"192.0.2.1", "10.77.0.22", 22, 1, reason.FilterBlocked, false},
	}
	for i, c := range cases {
		v := f.Judge(tcp(c.src, c.dst, uint16(41000+i), c.port, tcpSYN, 1, 0).frame(), packet.In, t0)
		if v.Rule != c.rule || v.Reason != c.r || v.Log != c.log {
			t.Errorf("case %d (%s -> %s:%d): rule %d, reason %v, log %v; want rule %d, reason %v, log %v",
				i, c.src, c.dst, c.port, v.Rule, v.Reason, v.Log, c.rule, c.r, c.log)
		}
	}
}

func TestFW1DefaultPolicy(t *testing.T) {
	f := New(testPolicy()) // no rules loaded at all
	expect(t, f, tcp(client, web1, 40000, 23, tcpSYN, 1, 0), packet.In, t0, reason.None)
	expect(t, f, udp(web1, client, 5000, 53), packet.Out, t0, reason.None)
	// A fresh box is a wire: mid-stream TCP of a connection it never saw passes.
	expect(t, f, tcp(client, web1, 40100, 22, tcpACK, 77, 88), packet.In, t0, reason.None)
	if f.Rules() == nil || f.Rules().Default != rules.Pass {
		t.Fatal("a new filter must have an empty pass rule set")
	}

	f = newFilter(t, "set default block\n")
	expect(t, f, tcp(client, web1, 40000, 23, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	expect(t, f, udp(web1, client, 5000, 53), packet.Out, t0, reason.FilterBlocked)
	expect(t, f, tcp(client, web1, 40100, 22, tcpACK, 77, 88), packet.In, t0, reason.FilterBlocked)
}

func TestIssueRulesBothFamilies(t *testing.T) {
	f := newFilter(t, issueRules)
	expect(t, f, tcp(client, web1, 40000, 443, tcpSYN, 1, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(client, "10.77.0.22", 40000, 5201, tcpSYN, 1, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(client, "10.77.0.23", 40000, 80, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	expect(t, f, tcp(client, web1, 40000, 22, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	expect(t, f, tcp(client6, web6, 40000, 80, tcpSYN, 1, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(client6, "fd77:0:0:1::21", 40000, 80, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	// The block for 203.0.113.0/24 is quick: checked before the web pass
	// written above it, so that network reaches no web port.
	expect(t, f, tcp("203.0.113.9", web1, 40000, 80, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	expect(t, f, pkt{src: "203.0.113.9", dst: web1, proto: rules.ProtoICMP, icmpType: 8}, packet.In, t0, reason.FilterBlocked)
	expect(t, f, udp("203.0.113.9", web1, 40000, 53), packet.In, t0, reason.FilterBlocked)
	if v := f.Judge(tcp("203.0.113.9", web1, 40001, 443, tcpSYN, 1, 0).frame(), packet.In, t0); v.Rule != 3 {
		t.Errorf("SYN from 203.0.113.9 decided by rule %d, want 3 (the quick block, by its place in the file)", v.Rule)
	}
	// Out is open; in needs a rule.
	expect(t, f, udp(web1, "192.0.2.53", 5353, 53), packet.Out, t0, reason.None)
	expect(t, f, udp(client, web1, 5353, 53), packet.In, t0, reason.FilterBlocked)
	expect(t, f, pkt{src: client6, dst: web6, proto: rules.ProtoICMPv6, icmpType: 135}, packet.In, t0, reason.None)
}

func TestFW1BlockedPortBlockedBothDirections(t *testing.T) {
	f := newFilter(t, "block proto { tcp, udp } to any port 23\npass all\n")
	expect(t, f, tcp(client, web1, 40000, 23, tcpSYN, 1, 0), packet.In, t0, reason.FilterBlocked)
	expect(t, f, tcp(web1, client, 40000, 23, tcpSYN, 1, 0), packet.Out, t0, reason.FilterBlocked)
	expect(t, f, udp(web1, client, 40000, 23), packet.Out, t0, reason.FilterBlocked)
	expect(t, f, tcp(web1, client, 40000, 24, tcpSYN, 1, 0), packet.Out, t0, reason.None)
	expect(t, f, tcp(web6, client6, 40000, 23, tcpSYN, 1, 0), packet.Out, t0, reason.FilterBlocked)
}

func TestHandshakeRepliesAndTeardown(t *testing.T) {
	f := newFilter(t, issueRules)
	c, s := handshake(t, f, client, web1, 40000, 80, packet.In, t0)
	if st := f.Stats(); st.ByState[TCPEstablished] != 1 || st.Connections != 1 {
		t.Fatalf("stats after handshake: %+v", st)
	}
	// Data both ways; the rack side has no rule of its own for these.
	req := tcp(client, web1, 40000, 80, tcpACK|0x08, c, s)
	req.payload = 100
	expect(t, f, req, packet.In, t0, reason.None)
	c += 100
	resp := tcp(web1, client, 80, 40000, tcpACK|0x08, s, c)
	resp.payload = 1400
	expect(t, f, resp, packet.Out, t0, reason.None)
	s += 1400
	// Server closes, client acks and closes, server acks.
	expect(t, f, tcp(web1, client, 80, 40000, tcpFIN|tcpACK, s, c), packet.Out, t0, reason.None)
	if st := f.Stats(); st.ByState[TCPFinWait] != 1 {
		t.Fatalf("after one FIN: %+v", st.ByState)
	}
	expect(t, f, tcp(client, web1, 40000, 80, tcpFIN|tcpACK, c, s+1), packet.In, t0, reason.None)
	expect(t, f, tcp(web1, client, 80, 40000, tcpACK, s+1, c+1), packet.Out, t0, reason.None)
	if st := f.Stats(); st.ByState[TCPTimeWait] != 1 {
		t.Fatalf("after both FINs acked: %+v", st.ByState)
	}
	// The client reuses its port: a new SYN starts a new connection.
	expect(t, f, tcp(client, web1, 40000, 80, tcpSYN, 900000, 0), packet.In, t0.Add(time.Second), reason.None)
	if st := f.Stats(); st.ByState[TCPSynSent] != 1 || st.Connections != 1 {
		t.Fatalf("after reuse: %+v", st.ByState)
	}
}

func TestIPv6Handshake(t *testing.T) {
	f := newFilter(t, issueRules)
	c, s := handshake(t, f, client6, web6, 40000, 443, packet.In, t0)
	expect(t, f, tcp(web6, client6, 443, 40000, tcpACK, s, c), packet.Out, t0, reason.None)
}

func TestFW2UnsolicitedReplyDropped(t *testing.T) {
	f := newFilter(t, issueRules)
	// A SYN+ACK leaving the rack that answers nothing the box saw: "pass
	// out all" matches, but a pass rule only opens connections with a SYN.
	expect(t, f, tcp(web1, client, 80, 40000, tcpSYN|tcpACK, 5000, 1001), packet.Out, t0, reason.ConnInvalid)
	// An ACK scan of the web servers from outside.
	expect(t, f, tcp(client, web1, 40000, 80, tcpACK, 1, 1), packet.In, t0, reason.ConnInvalid)
	expect(t, f, tcp(client, web1, 40000, 80, tcpRST, 1, 0), packet.In, t0, reason.ConnInvalid)
	// A SYN+ACK for a SYN that was sent, but acking the wrong number.
	expect(t, f, tcp(client, web1, 40001, 80, tcpSYN, 1000, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(web1, client, 80, 40001, tcpSYN|tcpACK, 5000, 77), packet.Out, t0, reason.ConnInvalid)
	if st := f.Stats(); st.Connections != 1 {
		t.Fatalf("connections = %d, want only the SYN", st.Connections)
	}
}

func TestFW2BlindInjectionRefused(t *testing.T) {
	f := newFilter(t, issueRules)
	c, s := handshake(t, f, client, web1, 40000, 80, packet.In, t0)
	// Out-of-window data and resets from the uplink side.
	expect(t, f, tcp(client, web1, 40000, 80, tcpACK, c+1<<30, s), packet.In, t0, reason.ConnInvalid)
	expect(t, f, tcp(client, web1, 40000, 80, tcpRST, c+200000, 0), packet.In, t0, reason.ConnInvalid)
	expect(t, f, tcp(client, web1, 40000, 80, tcpRST, c-300000, 0), packet.In, t0, reason.ConnInvalid)
	// Acknowledging data the server never sent.
	expect(t, f, tcp(client, web1, 40000, 80, tcpACK, c, s+100000), packet.In, t0, reason.ConnInvalid)
	// A SYN in the middle of an established connection.
	expect(t, f, tcp(client, web1, 40000, 80, tcpSYN, c, 0), packet.In, t0, reason.ConnInvalid)
	if st := f.Stats(); st.ByState[TCPEstablished] != 1 {
		t.Fatalf("the connection must survive injection attempts: %+v", st.ByState)
	}
	// An in-window reset is accepted and closes the connection.
	expect(t, f, tcp(client, web1, 40000, 80, tcpRST, c, 0), packet.In, t0, reason.None)
	if st := f.Stats(); st.ByState[TCPClosed] != 1 {
		t.Fatalf("after RST: %+v", st.ByState)
	}
}

func TestWindowScaling(t *testing.T) {
	f := newFilter(t, issueRules)
	syn := tcp(client, web1, 40000, 80, tcpSYN, 1000, 0)
	syn.wscale = 7
	expect(t, f, syn, packet.In, t0, reason.None)
	sa := tcp(web1, client, 80, 40000, tcpSYN|tcpACK, 5000, 1001)
	sa.wscale = 7
	expect(t, f, sa, packet.Out, t0, reason.None)
	ack := tcp(client, web1, 40000, 80, tcpACK, 1001, 5001)
	ack.win = 2048 // 2048<<7 = 256 KiB
	expect(t, f, ack, packet.In, t0, reason.None)
	// The server sends 200 KiB ahead: beyond 64 KiB, inside the scaled window.
	burst := tcp(web1, client, 80, 40000, tcpACK, 5001+200000, 1001)
	burst.payload = 1000
	expect(t, f, burst, packet.Out, t0, reason.None)
	// But not beyond it.
	far := tcp(web1, client, 80, 40000, tcpACK, 5001+400000, 1001)
	expect(t, f, far, packet.Out, t0, reason.ConnInvalid)
}

func TestFW2WrongPortIsForged(t *testing.T) {
	f := newFilter(t, "")
	c, s := handshake(t, f, web1, client, 40000, 443, packet.Out, t0)
	// The server's reply must come from the uplink; the same bytes arriving
	// from the rack are someone in the rack pretending to be the server.
	expect(t, f, tcp(client, web1, 443, 40000, tcpACK, s, c), packet.Out, t0, reason.ConnInvalid)
	expect(t, f, tcp(client, web1, 443, 40000, tcpACK, s, c), packet.In, t0, reason.None)
}

func TestICMPErrorForTrackedFlowPasses(t *testing.T) {
	f := newFilter(t, "set default block\npass out all\n")
	probe := udp(web1, "192.0.2.99", 33434, 33435)
	expect(t, f, probe, packet.Out, t0, reason.None)
	timex := pkt{src: "192.0.2.1", dst: web1, proto: rules.ProtoICMP, icmpType: 11, quote: quoteOf(probe), wscale: -1}
	expect(t, f, timex, packet.In, t0, reason.None)
	if v := f.Judge(timex.frame(), packet.In, t0); !v.Tracked {
		t.Fatal("the error should be judged as related to the tracked flow")
	}
	// The same error about a flow nobody opened falls to the rules.
	other := udp(web1, "192.0.2.99", 33434, 40000)
	expect(t, f, pkt{src: "192.0.2.1", dst: web1, proto: rules.ProtoICMP, icmpType: 11, quote: quoteOf(other)}, packet.In, t0, reason.FilterBlocked)
	// An error travelling the same way as the quoted packet is forged.
	expect(t, f, pkt{src: "192.0.2.1", dst: web1, proto: rules.ProtoICMP, icmpType: 3, quote: quoteOf(probe)}, packet.Out, t0, reason.ConnInvalid)
	// An error addressed to someone other than the quoted sender does not ride on the flow.
	expect(t, f, pkt{src: "192.0.2.1", dst: "10.77.0.99", proto: rules.ProtoICMP, icmpType: 3, quote: quoteOf(probe)}, packet.In, t0, reason.FilterBlocked)

	// IPv6 packet too big for a TCP connection, quoting an in-window segment.
	c, s := handshake(t, f, web6, client6, 40000, 443, packet.Out, t0)
	seg := tcp(web6, client6, 40000, 443, tcpACK, c, s)
	big := pkt{src: "2001:db8:5::1", dst: web6, proto: rules.ProtoICMPv6, icmpType: 2, quote: quoteOf(seg)}
	expect(t, f, big, packet.In, t0, reason.None)
	// Quoting a sequence number far outside the window: a blind forgery.
	forged := tcp(web6, client6, 40000, 443, tcpACK, c+1<<31, s)
	expect(t, f, pkt{src: "2001:db8:5::1", dst: web6, proto: rules.ProtoICMPv6, icmpType: 2, quote: quoteOf(forged)}, packet.In, t0, reason.ConnInvalid)
}

func TestICMPEcho(t *testing.T) {
	f := newFilter(t, "set default block\npass out all\n")
	req := pkt{src: web1, dst: "192.0.2.1", proto: rules.ProtoICMP, icmpType: 8, icmpID: 77}
	rep := pkt{src: "192.0.2.1", dst: web1, proto: rules.ProtoICMP, icmpType: 0, icmpID: 77}
	expect(t, f, rep, packet.In, t0, reason.FilterBlocked) // nobody asked yet
	expect(t, f, req, packet.Out, t0, reason.None)
	expect(t, f, rep, packet.In, t0, reason.None)
	rep.icmpID = 78
	expect(t, f, rep, packet.In, t0, reason.FilterBlocked)
	req6 := pkt{src: web6, dst: client6, proto: rules.ProtoICMPv6, icmpType: 128, icmpID: 9}
	rep6 := pkt{src: client6, dst: web6, proto: rules.ProtoICMPv6, icmpType: 129, icmpID: 9}
	expect(t, f, req6, packet.Out, t0, reason.None)
	expect(t, f, rep6, packet.In, t0, reason.None)
	if st := f.Stats(); st.ByState[ICMPEcho] != 2 {
		t.Fatalf("echo states: %+v", st.ByState)
	}
}

func TestUDPPseudoConnection(t *testing.T) {
	f := newFilter(t, "set default block\npass out proto udp to any port 53\n")
	q := udp(web1, "192.0.2.53", 5353, 53)
	expect(t, f, q, packet.Out, t0, reason.None)
	expect(t, f, udp("192.0.2.53", web1, 53, 5353), packet.In, t0, reason.None)
	expect(t, f, udp("192.0.2.53", web1, 53, 5354), packet.In, t0, reason.FilterBlocked)
	if st := f.Stats(); st.ByState[Multiple] != 1 {
		t.Fatalf("states: %+v", st.ByState)
	}
}

func TestVLAN(t *testing.T) {
	f := newFilter(t, "set default block\npass in proto udp to any port 53 vlan 10\n")
	p := udp(client, web1, 5000, 53)
	expect(t, f, p, packet.In, t0, reason.FilterBlocked)
	p.vlan = 20
	expect(t, f, p, packet.In, t0, reason.FilterBlocked)
	p.vlan = 10
	expect(t, f, p, packet.In, t0, reason.None)
	// The reply must be on the same VLAN to belong to the connection.
	r := udp(web1, client, 53, 5000)
	r.vlan = 20
	expect(t, f, r, packet.Out, t0, reason.FilterBlocked)
	r.vlan = 10
	expect(t, f, r, packet.Out, t0, reason.None)
}

func TestReloadKeepsFlowsStillAllowed(t *testing.T) {
	f := newFilter(t, issueRules)
	c1, s1 := handshake(t, f, client, web1, 40000, 80, packet.In, t0)
	c2, s2 := handshake(t, f, client, web1, 40001, 443, packet.In, t0)
	expect(t, f, udp(web1, "192.0.2.53", 5353, 53), packet.Out, t0, reason.None)

	rs, err := rules.Parse("set default block\ntable <web> { 10.77.0.21 }\npass in proto tcp to <web> port 443\n")
	if err != nil {
		t.Fatal(err)
	}
	f.Load(rs)
	if f.Rules() != rs || f.Stats().Generation != 3 { // New, first Load, this one
		t.Fatalf("rules not swapped: generation %d", f.Stats().Generation)
	}
	// Port 443 is still allowed: both directions keep working.
	expect(t, f, tcp(web1, client, 443, 40001, tcpACK, s2, c2), packet.Out, t0, reason.None)
	expect(t, f, tcp(client, web1, 40001, 443, tcpACK, c2, s2), packet.In, t0, reason.None)
	// Port 80 is not: its connection goes, and stays gone.
	expect(t, f, tcp(web1, client, 80, 40000, tcpACK, s1, c1), packet.Out, t0, reason.FilterBlocked)
	expect(t, f, tcp(client, web1, 40000, 80, tcpACK, c1, s1), packet.In, t0, reason.FilterBlocked)
	// The DNS flow relied on "pass out all", now gone.
	expect(t, f, udp("192.0.2.53", web1, 53, 5353), packet.In, t0, reason.FilterBlocked)
	if st := f.Stats(); st.Connections != 1 {
		t.Fatalf("connections after reload: %d, want 1", st.Connections)
	}
}

func TestExpire(t *testing.T) {
	f := newFilter(t, "")
	handshake(t, f, client, web1, 40000, 80, packet.In, t0)
	expect(t, f, udp(web1, client, 5000, 53), packet.Out, t0, reason.None)
	expect(t, f, tcp(client, web1, 40001, 80, tcpSYN, 1, 0), packet.In, t0, reason.None)
	f.Expire(t0.Add(29 * time.Second))
	if n := f.Stats().Connections; n != 3 {
		t.Fatalf("connections before timeouts: %d", n)
	}
	f.Expire(t0.Add(31 * time.Second))
	st := f.Stats()
	if st.Connections != 1 || st.ByState[TCPEstablished] != 1 || st.Expired != 2 {
		t.Fatalf("after 31s: %+v", st)
	}
	f.Expire(t0.Add(25 * time.Hour))
	if st := f.Stats(); st.Connections != 0 {
		t.Fatalf("after a day: %+v", st)
	}
}

func TestFW3TableBoundsAndEviction(t *testing.T) {
	p := testPolicy()
	p.MaxConnections = 4
	f := New(p)
	// Four unanswered UDP flows fill the table; each new one evicts the
	// oldest idle.
	for i := 0; i < 6; i++ {
		expect(t, f, udp(web1, client, uint16(5000+i), 53), packet.Out, t0.Add(time.Duration(i)*time.Millisecond), reason.None)
	}
	st := f.Stats()
	if st.Connections != 4 || st.Evictions != 2 || st.Capacity != 4 {
		t.Fatalf("after 6 flows: %+v", st)
	}
	// The two oldest are gone: their replies are new flows now (from the uplink).
	if v := f.Judge(udp(client, web1, 53, 5000).frame(), packet.In, t0.Add(10*time.Millisecond)); v.Tracked {
		t.Fatal("evicted flow still tracked")
	}

	// A table of answered (established) flows that are all busy refuses
	// new connections rather than cut a live one.
	f = New(p)
	for i := 0; i < 4; i++ {
		expect(t, f, udp(web1, client, uint16(6000+i), 53), packet.Out, t0, reason.None)
		expect(t, f, udp(client, web1, 53, uint16(6000+i)), packet.In, t0, reason.None)
	}
	expect(t, f, udp(web1, client, 7000, 53), packet.Out, t0.Add(time.Second), reason.ConnTableFull)
	if st := f.Stats(); st.TableFull != 1 || st.Connections != 4 {
		t.Fatalf("table full stats: %+v", st)
	}
	// Once the oldest has idled a minute it may go.
	expect(t, f, udp(web1, client, 7000, 53), packet.Out, t0.Add(61*time.Second), reason.None)
	if st := f.Stats(); st.Evictions != 1 {
		t.Fatalf("evictions: %d", st.Evictions)
	}
}

func TestFW3HalfOpenEvictedBeforeEstablished(t *testing.T) {
	p := testPolicy()
	p.MaxConnections = 4
	f := New(p)
	handshake(t, f, client, web1, 40000, 80, packet.In, t0)
	// A SYN flood churns through the other three entries.
	for i := 0; i < 50; i++ {
		expect(t, f, tcp("192.0.2.66", web1, uint16(1000+i), 80, tcpSYN, 1, 0), packet.In, t0.Add(2*time.Minute), reason.None)
	}
	if st := f.Stats(); st.ByState[TCPEstablished] != 1 || st.ByState[TCPSynSent] != 3 {
		t.Fatalf("the idle established connection must outlive the flood: %+v", st.ByState)
	}
}

func TestFW3RateLimit(t *testing.T) {
	p := testPolicy()
	p.ConnRate, p.ConnBurst = 10, 5
	f := New(p)
	for i := 0; i < 5; i++ {
		expect(t, f, udp(web1, client, uint16(5000+i), 53), packet.Out, t0, reason.None)
	}
	expect(t, f, udp(web1, client, 5005, 53), packet.Out, t0, reason.ConnRateLimited)
	if !reason.ConnRateLimited.IsViolation() {
		t.Fatal("rate limiting must count toward quarantine")
	}
	// Another source is not affected; packets of existing flows are not either.
	other := udp("10.77.0.22", client, 5000, 53)
	other.srcMAC = [6]byte{2, 0, 0, 0, 0, 2}
	expect(t, f, other, packet.Out, t0, reason.None)
	expect(t, f, udp(client, web1, 53, 5000), packet.In, t0, reason.None)
	// 100 ms later one token has come back.
	expect(t, f, udp(web1, client, 5006, 53), packet.Out, t0.Add(100*time.Millisecond), reason.None)
	expect(t, f, udp(web1, client, 5007, 53), packet.Out, t0.Add(100*time.Millisecond), reason.ConnRateLimited)
	if st := f.Stats(); st.RateLimited != 2 {
		t.Fatalf("rate limited count %d", st.RateLimited)
	}
}

func TestFW3RateLimitByRackMAC(t *testing.T) {
	p := testPolicy()
	p.ConnRate, p.ConnBurst = 10, 3
	f := New(p)
	mac := [6]byte{2, 0, 0, 0, 0, 9}
	// A rack host randomizing its source address is still one source by MAC.
	for i := 0; i < 3; i++ {
		u := udp("10.77.9."+string(rune('1'+i)), client, 5000, 53)
		u.srcMAC = mac
		expect(t, f, u, packet.Out, t0, reason.None)
	}
	u := udp("10.77.9.9", client, 5000, 53)
	u.srcMAC = mac
	expect(t, f, u, packet.Out, t0, reason.ConnRateLimited)
}

func TestLogFlag(t *testing.T) {
	f := newFilter(t, "block in log proto tcp to any port 23\npass log out all\n")
	v := f.Judge(tcp(client, web1, 4000, 23, tcpSYN, 1, 0).frame(), packet.In, t0)
	if v.Reason != reason.FilterBlocked || !v.Log || v.Rule != 0 {
		t.Fatalf("verdict %+v", v)
	}
	v = f.Judge(udp(web1, client, 5000, 53).frame(), packet.Out, t0)
	if v.Reason != reason.None || !v.Log || v.Rule != 1 {
		t.Fatalf("verdict %+v", v)
	}
	// Tracked packets are not logged again.
	v = f.Judge(udp(client, web1, 53, 5000).frame(), packet.In, t0)
	if v.Log || !v.Tracked {
		t.Fatalf("verdict %+v", v)
	}
	if f.Stats().Logged != 2 {
		t.Fatalf("logged %d", f.Stats().Logged)
	}
}

func TestOtherProtocolsTracked(t *testing.T) {
	f := newFilter(t, "set default block\npass out proto gre\n")
	expect(t, f, pkt{src: web1, dst: client, proto: 47}, packet.Out, t0, reason.None)
	expect(t, f, pkt{src: client, dst: web1, proto: 47}, packet.In, t0, reason.None)
	expect(t, f, pkt{src: "192.0.2.9", dst: web1, proto: 47}, packet.In, t0, reason.FilterBlocked)
}

func TestTableStaysConsistentUnderChurn(t *testing.T) {
	p := testPolicy()
	p.MaxConnections = 32
	p.MaxSources = 16
	f := New(p)
	rs, _ := rules.Parse("set default block\npass in proto { tcp, udp } to any port { 53, 80, 443 }\npass out all\n")
	f.Load(rs)
	r := rand.New(rand.NewPCG(5, 5))
	frames := randomTraffic(512, r)
	now := t0
	for i := 0; i < 20000; i++ {
		fr := frames[r.IntN(len(frames))]
		if r.IntN(4) == 0 {
			fr.SrcPort++
		}
		now = now.Add(time.Duration(r.IntN(50)) * time.Millisecond)
		f.Decide(fr, direction(fr), now)
		if i%97 == 0 {
			f.Expire(now)
		}
		if i%2000 == 0 {
			now = now.Add(40 * time.Second) // a lull: half-open entries time out
		}
		if i%1000 == 0 {
			checkTable(t, f.shards[0].ct)
		}
	}
	checkTable(t, f.shards[0].ct)
	if st := f.Stats(); st.Expired == 0 || st.Evictions == 0 {
		t.Fatalf("churn did not exercise expiry and eviction: %+v", st)
	}
}

func TestHandshakeRetransmissions(t *testing.T) {
	f := newFilter(t, issueRules)
	expect(t, f, tcp(client, web1, 40000, 80, tcpSYN, 1000, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(client, web1, 40000, 80, tcpSYN, 1000, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(web1, client, 80, 40000, tcpSYN|tcpACK, 5000, 1001), packet.Out, t0, reason.None)
	expect(t, f, tcp(client, web1, 40000, 80, tcpSYN, 1000, 0), packet.In, t0, reason.None)
	expect(t, f, tcp(web1, client, 80, 40000, tcpSYN|tcpACK, 5000, 1001), packet.Out, t0, reason.None)
	expect(t, f, tcp(client, web1, 40000, 80, tcpACK, 1001, 5001), packet.In, t0, reason.None)
	// The final ACK was lost past the box: the server repeats its SYN+ACK.
	expect(t, f, tcp(web1, client, 80, 40000, tcpSYN|tcpACK, 5000, 1001), packet.Out, t0, reason.None)
	// A SYN+ACK with another sequence number is not a retransmission.
	expect(t, f, tcp(web1, client, 80, 40000, tcpSYN|tcpACK, 7000, 1001), packet.Out, t0, reason.ConnInvalid)
	if st := f.Stats(); st.ByState[TCPEstablished] != 1 {
		t.Fatalf("states %+v", st.ByState)
	}
}

// TestConcurrentLoadAndStats runs the packet loop while other goroutines
// reload rules and read stats (run with -race).
func TestConcurrentLoadAndStats(t *testing.T) {
	f := New(testPolicy())
	sets := []string{issueRules, "set default block\npass out all\n", ""}
	parsed := make([]*rules.RuleSet, len(sets))
	for i, s := range sets {
		parsed[i], _ = rules.Parse(s)
	}
	frames := randomTraffic(256, rand.New(rand.NewPCG(8, 8)))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 200; i++ {
			f.Load(parsed[i%len(parsed)])
			_ = f.Stats()
			_ = f.Rules().String()
		}
	}()
	now := t0
	for i := 0; ; i++ {
		select {
		case <-done:
			if f.Stats().Generation != 201 {
				t.Fatalf("generation %d", f.Stats().Generation)
			}
			return
		default:
		}
		fr := frames[i%len(frames)]
		now = now.Add(time.Millisecond)
		f.Decide(fr, direction(fr), now)
		if i%100 == 0 {
			f.Expire(now)
		}
	}
}

// A sharded filter judged from several goroutines at once tracks every
// connection once, whichever goroutine sees which direction, and its
// capacity is max_connections over all shards.
func TestShardedFilterConcurrentJudges(t *testing.T) {
	p := config.Default()
	p.MaxConnections = 4096
	f := NewSharded(&p, 8)
	if st := f.Stats(); st.Capacity != 4096 {
		t.Fatalf("capacity %d, want 4096", st.Capacity)
	}
	const flows, loops = 1000, 4
	now := time.Unix(1_700_000_000, 0)
	var wg sync.WaitGroup
	fails := make(chan string, loops)
	for g := range loops {
		wg.Go(func() {
			for i := g; i < flows; i += loops {
				a, b := fmt.Sprintf("192.0.2.%d", i%256), fmt.Sprintf("198.51.100.%d", i/256)
				out := udp(a, b, uint16(10000+i), 53).frame()
				back := udp(b, a, 53, uint16(10000+i)).frame()
				if r := f.Decide(out, packet.Out, now); r != reason.None {
					fails <- r.String()
					return
				}
				if r := f.Decide(back, packet.In, now); r != reason.None {
					fails <- r.String()
					return
				}
			}
		})
	}
	wg.Wait()
	close(fails)
	for r := range fails {
		t.Fatalf("a flow was refused: %s", r)
	}
	if st := f.Stats(); st.Connections != flows || st.ByState[Multiple] != flows {
		t.Fatalf("%d connections, %d answered; want %d of each", st.Connections, st.ByState[Multiple], flows)
	}
	for i := range f.shards {
		checkTable(t, f.shards[i].ct)
	}
}

// A connection's shard follows the fanout's flow hash, the same from both
// directions: address words and ports XOR-ed, then folded.
func TestShardFollowsFlowHash(t *testing.T) {
	for i := range 200 {
		a, b := fmt.Sprintf("192.0.2.%d", i), fmt.Sprintf("198.51.100.%d", 255-i)
		sp, dp := uint16(1024+i*7), uint16(443)
		there, back := udp(a, b, sp, dp).frame(), udp(b, a, dp, sp).frame()
		k1, _ := makeKey(there.Src, there.Dst, sp, dp, rules.ProtoUDP, 0)
		k2, _ := makeKey(back.Src, back.Dst, dp, sp, rules.ProtoUDP, 0)
		s4, d4 := there.Src.As4(), there.Dst.As4()
		want := FoldFlowHash(binary.BigEndian.Uint32(s4[:]) ^ binary.BigEndian.Uint32(d4[:]) ^ uint32(sp^dp))
		if h1, h2 := flowHash(&k1), flowHash(&k2); h1 != want || h2 != want {
			t.Fatalf("flow %d: hashes %#x and %#x, want %#x both ways", i, h1, h2, want)
		}
	}
}
