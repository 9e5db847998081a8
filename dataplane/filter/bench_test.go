package filter

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/config"
	"github.com/rackwall/rackwall/dataplane/packet"
	"github.com/rackwall/rackwall/dataplane/rules"
)

// realisticRules writes a rules file of about n rules shaped like a large
// site's: a few broad rules (a blocklist table, ICMP, "pass out all") and
// many narrow ones generated from an inventory of hosts and services.
func realisticRules(n int, r *rand.Rand) string {
	var b strings.Builder
	b.WriteString("set default block\n")
	b.WriteString("table <blocklist> {")
	for i := 0; i < 200; i++ {
		fmt.Fprintf(&b, " %d.%d.%d.0/24", 100+r.IntN(100), r.IntN(256), r.IntN(256))
	}
	b.WriteString(" }\n")
	b.WriteString("block in from <blocklist>\npass in proto icmp\npass in proto ipv6-icmp\n")
	services := []string{"80", "443", "{ 80, 443 }", "22", "5201", "8000:8100", "{ 25, 587 }", "3306", "6379"}
	for i := 0; i < n; i++ {
		host := fmt.Sprintf("10.%d.%d.%d", r.IntN(64), r.IntN(256), r.IntN(256))
		switch k := r.IntN(20); {
		case k < 10:
			fmt.Fprintf(&b, "pass in proto tcp to %s port %s\n", host, services[r.IntN(len(services))])
		case k < 12:
			fmt.Fprintf(&b, "pass in proto tcp to 10.%d.%d.0/24 port %s\n", r.IntN(64), r.IntN(256), services[r.IntN(len(services))])
		case k < 15:
			if r.IntN(2) == 0 {
				fmt.Fprintf(&b, "block in from %d.%d.0.0/16\n", 1+r.IntN(223), r.IntN(256))
			} else {
				fmt.Fprintf(&b, "block in from %d.%d.%d.0/24\n", 1+r.IntN(223), r.IntN(256), r.IntN(256))
			}
		case k < 17:
			lo := 10000 + r.IntN(100)*10
			fmt.Fprintf(&b, "pass in proto udp to %s port %d:%d\n", host, lo, lo+10)
		case k < 19:
			fmt.Fprintf(&b, "pass in inet6 proto tcp to fd77:%x::/64 port %s\n", r.IntN(4096), services[r.IntN(len(services))])
		default:
			fmt.Fprintf(&b, "block out proto tcp from %s to any port 25\n", host)
		}
	}
	b.WriteString("pass out all\n")
	return b.String()
}

// randomTraffic makes frames toward the rack and out of it with random
// tuples in the address ranges the rules talk about.
func randomTraffic(count int, r *rand.Rand) []*packet.Frame {
	frames := make([]*packet.Frame, count)
	ports := []uint16{80, 443, 22, 25, 5201, 3306, 8050, 10050, 53, 12345}
	for i := range frames {
		var p pkt
		src := fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(223), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		dst := fmt.Sprintf("10.%d.%d.%d", r.IntN(64), r.IntN(256), r.IntN(256))
		sp, dp := uint16(1024+r.IntN(60000)), ports[r.IntN(len(ports))]
		switch k := r.IntN(10); {
		case k < 6:
			p = tcp(src, dst, sp, dp, tcpSYN, r.Uint32(), 0)
		case k < 8:
			p = udp(src, dst, sp, dp)
		case k < 9:
			p = tcp(fmt.Sprintf("2001:db8:%x::%x", r.IntN(65536), r.IntN(65536)), fmt.Sprintf("fd77:%x::%x", r.IntN(4096), r.IntN(65536)), sp, dp, tcpSYN, r.Uint32(), 0)
		default:
			p = tcp(dst, src, sp, dp, tcpSYN, r.Uint32(), 0) // rack host calling out
		}
		p.srcMAC = [6]byte{2, byte(i >> 16), byte(i >> 8), byte(i), 0, 1}
		frames[i] = p.frame()
	}
	return frames
}

// cpuMeter reports "cpu-ns/op", the benchmark thread's CPU time per
// operation, next to the wall-clock ns/op.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	runtime.LockOSThread()
	d, ok := threadCPU()
	return cpuMeter{d, ok}
}

func (m cpuMeter) report(b *testing.B, ops int) {
	defer runtime.UnlockOSThread()
	end, ok := threadCPU()
	if m.ok && ok && ops > 0 {
		b.ReportMetric(float64(end-m.start)/float64(ops), "cpu-ns/op")
	}
}

func direction(fr *packet.Frame) packet.Direction {
	if fr.Src.Is4() && fr.Src.As4()[0] == 10 || fr.Src.Is6() && fr.Src.As16()[0] == 0xfd {
		return packet.Out
	}
	return packet.In
}

// BenchmarkDecide judges a stream of new connections with random tuples:
// every packet is a first packet (its source port changes each round), so
// each one goes through the rule lookup, the rate limiter and, when it
// passes, the connection table, which fills up and evicts.
func BenchmarkDecide(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			p := config.Default()
			f := New(&p)
			rs, err := rules.Parse(realisticRules(n, r))
			if err != nil {
				b.Fatal(err)
			}
			f.Load(rs)
			frames := randomTraffic(1<<13, r)
			dirs := make([]packet.Direction, len(frames))
			for i, fr := range frames {
				dirs[i] = direction(fr)
			}
			now := t0
			b.ReportAllocs()
			runtime.GC()
			cpu := startCPU()
			i := 0
			for ; b.Loop(); i++ {
				j := i & (len(frames) - 1)
				fr := frames[j]
				fr.SrcPort = uint16(i>>13) + 1024
				f.Decide(fr, dirs[j], now)
			}
			cpu.report(b, i)
		})
	}
}

// BenchmarkRuleLookup is the compiled rule lookup alone.
func BenchmarkRuleLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			r := rand.New(rand.NewPCG(uint64(n), 7))
			rs, err := rules.Parse(realisticRules(n, r))
			if err != nil {
				b.Fatal(err)
			}
			c := compile(rs, 1)
			frames := randomTraffic(1<<13, r)
			qs := make([]query, len(frames))
			for i, fr := range frames {
				qs[i] = query{fam: familyOf(fr.Src), dir: int(direction(fr)), proto: fr.Proto, src: addrU128(fr.Src), dst: addrU128(fr.Dst), hasPorts: true, sport: fr.SrcPort, dport: fr.DstPort}
			}
			b.ReportAllocs()
			runtime.GC()
			cpu := startCPU()
			i := 0
			for ; b.Loop(); i++ {
				c.match(&qs[i&(len(qs)-1)])
			}
			cpu.report(b, i)
		})
	}
}

// BenchmarkConntrackLookup judges packets of established connections: a
// table holding 100,000 connections, packets of random ones among them.
// Like the packet loop, it decodes each packet into one hot Frame (here by
// setting the fields), so the cost measured is the table's, not that of
// fetching 100,000 scattered test frames from memory.
func BenchmarkConntrackLookup(b *testing.B) {
	p := config.Default()
	p.ConnRate = 0
	f := New(&p)
	const conns = 100000
	type tuple struct {
		src, dst netip.Addr
		sp, dp   uint16
		seq, ack uint32
		dir      packet.Direction
	}
	tuples := make([]tuple, conns)
	for i := 0; i < conns; i++ {
		cl := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		sv := netip.AddrFrom4([4]byte{10, 77, byte(i >> 8), byte(i)})
		cp := uint16(10000 + i%50000)
		f.Decide(tcp(cl.String(), sv.String(), cp, 80, tcpSYN, 1000, 0).frame(), packet.In, t0)
		f.Decide(tcp(sv.String(), cl.String(), 80, cp, tcpSYN|tcpACK, 5000, 1001).frame(), packet.Out, t0)
		f.Decide(tcp(cl.String(), sv.String(), cp, 80, tcpACK, 1001, 5001).frame(), packet.In, t0)
		if i%2 == 0 {
			tuples[i] = tuple{cl, sv, cp, 80, 1001, 5001, packet.In}
		} else {
			tuples[i] = tuple{sv, cl, 80, cp, 5001, 1001, packet.Out}
		}
	}
	if st := f.Stats(); st.ByState[TCPEstablished] != conns {
		b.Fatalf("setup: %+v", st.ByState)
	}
	rand.New(rand.NewPCG(1, 1)).Shuffle(conns, func(i, j int) { tuples[i], tuples[j] = tuples[j], tuples[i] })
	fr := tcp(client, web1, 1, 1, tcpACK, 0, 0).frame()
	b.ReportAllocs()
	runtime.GC()
	cpu := startCPU()
	i := 0
	for ; b.Loop(); i++ {
		tp := &tuples[i%conns]
		fr.Src, fr.Dst, fr.SrcPort, fr.DstPort, fr.TCPSeq, fr.TCPAck = tp.src, tp.dst, tp.sp, tp.dp, tp.seq, tp.ack
		if f.Decide(fr, tp.dir, t0) != 0 {
			b.Fatal("established packet dropped")
		}
	}
	cpu.report(b, i)
}
