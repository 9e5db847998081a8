package tests

import (
	"bytes"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwall/rackwall/tests/lab"
)

// direction names a sender and the capture point on the far side of the box.
type sendPath struct {
	name              string
	fromNS, fromIf    string
	toNS, toIf        string
	dstMAC            string
	src4, dst4        string
	src6, dst6        string
	nearNS, nearCapIf string
}

func sendPaths(l *lab.Lab) []sendPath {
	return []sendPath{
		{
			name: "uplink_to_rack", fromNS: l.ClientNS, fromIf: l.ClientIf,
			toNS: l.SwitchNS, toIf: l.SwitchUplink, dstMAC: l.MAC(l.ServerIf[0]).String(),
			src4: lab.ClientV4.String(), dst4: lab.ServerV4(1).String(),
			src6: lab.ClientV6.String(), dst6: lab.ServerV6(1).String(),
			nearNS: l.ClientNS, nearCapIf: l.ClientIf,
		},
		{
			name: "rack_to_uplink", fromNS: l.Server(1), fromIf: l.ServerIf[0],
			toNS: l.ClientNS, toIf: l.ClientIf, dstMAC: l.MAC(l.ClientIf).String(),
			src4: lab.ServerV4(1).String(), dst4: lab.ClientV4.String(),
			src6: lab.ServerV6(1).String(), dst6: lab.ClientV6.String(),
			nearNS: l.SwitchNS, nearCapIf: l.SwitchUplink,
		},
	}
}

// sendAndCapture replays pcap from the sender while capturing on the far
// side (and on the near side, where nothing of it may come back), and
// returns the injected frames each capture saw.
func sendAndCapture(t *testing.T, l *lab.Lab, d sendPath, pcap string, replayArgs ...string) (far, near [][]byte) {
	t.Helper()
	farCap, err := l.StartCapture(d.toNS, d.toIf, "")
	if err != nil {
		t.Fatal(err)
	}
	nearCap, err := l.StartCapture(d.nearNS, d.nearCapIf, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Replay(d.fromNS, d.fromIf, pcap, replayArgs...); err != nil {
		t.Fatal(err)
	}
	// The box may hold nothing back for valid frames; a short pause lets the
	// last ones cross before the captures stop.
	time.Sleep(700 * time.Millisecond)
	farPkts, err := farCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	nearPkts, err := nearCap.Stop()
	if err != nil {
		t.Fatal(err)
	}
	return fromInjector(farPkts), fromInjector(nearPkts)
}

// TestVLANFramesPassByteIdentical sends 802.1Q, QinQ and double-tagged
// frames (IPv4, IPv6, ARP inside) through the box both ways and requires
// each to arrive unchanged (L1).
func TestVLANFramesPassByteIdentical(t *testing.T) {
	for _, b := range bridgeBoxes {
		t.Run(b.name, func(t *testing.T) {
			needScapy(t)
			l := newLab(t, 1, "tcpdump", "tcpreplay")
			dp := b.start(t, l)
			for _, d := range sendPaths(l) {
				t.Run(d.name, func(t *testing.T) {
					defer explainFailure(t, dp, dropSnapshot(t, dp))
					pcap := filepath.Join(tempDir(t, l, t.Name()), "vlan.pcap")
					sent := craftFor(t, pcap, d.dstMAC, "vlan", "--src4", d.src4, "--dst4", d.dst4, "--src6", d.src6, "--dst6", d.dst6)
					var want [][]byte
					for _, p := range sent {
						want = append(want, p.Data)
					}
					far, near := sendAndCapture(t, l, d, pcap, "--pps=2000")
					missing, extra := multisetDiff(want, far)
					for _, m := range missing {
						t.Errorf("sent but not arrived unchanged: %s", hexHead(m))
					}
					for _, x := range extra {
						t.Errorf("arrived but never sent (altered?): %s", hexHead(x))
					}
					if len(near) > 0 {
						t.Errorf("%d frames came back to the sending side", len(near))
					}
				})
			}
		})
	}
}

var seqRE = regexp.MustCompile(`rackwall-lab unique (\d{6}) `)

// TestEachFrameArrivesExactlyOnce sends N unique valid frames (IPv4 and
// IPv6 UDP) each way and counts them on the far side: every one exactly
// once, byte for byte, and none reflected back.
func TestEachFrameArrivesExactlyOnce(t *testing.T) {
	const n = 1000
	for _, b := range bridgeBoxes {
		t.Run(b.name, func(t *testing.T) {
			needScapy(t)
			l := newLab(t, 1, "tcpdump", "tcpreplay")
			dp := b.start(t, l)
			for _, d := range sendPaths(l) {
				t.Run(d.name, func(t *testing.T) {
					defer explainFailure(t, dp, dropSnapshot(t, dp))
					pcap := filepath.Join(tempDir(t, l, t.Name()), "unique.pcap")
					sent := craftFor(t, pcap, d.dstMAC, "unique", strconv.Itoa(n),
						"--src4", d.src4, "--dst4", d.dst4, "--src6", d.src6, "--dst6", d.dst6)
					if len(sent) != n {
						t.Fatalf("crafted %d frames, want %d", len(sent), n)
					}
					far, near := sendAndCapture(t, l, d, pcap, "--pps=20000")
					seen := make([]int, n)
					for _, f := range far {
						m := seqRE.FindSubmatch(f)
						if m == nil {
							t.Errorf("frame without sequence number arrived: %s", hexHead(f))
							continue
						}
						i, _ := strconv.Atoi(string(m[1]))
						if i >= n {
							t.Errorf("sequence %d out of range", i)
							continue
						}
						if !bytes.Equal(f, sent[i].Data) {
							t.Errorf("frame %d altered: sent %s, got %s", i, hexHead(sent[i].Data), hexHead(f))
						}
						seen[i]++
					}
					var lost, dup []string
					for i, c := range seen {
						switch {
						case c == 0:
							lost = append(lost, strconv.Itoa(i))
						case c > 1:
							dup = append(dup, fmt.Sprintf("%d×%d", i, c))
						}
					}
					if len(lost) > 0 {
						t.Errorf("%d of %d frames never arrived: %v", len(lost), n, firstItems(lost, 20))
					}
					if len(dup) > 0 {
						t.Errorf("%d frames arrived more than once: %v", len(dup), firstItems(dup, 20))
					}
					if len(near) > 0 {
						t.Errorf("%d frames came back to the sending side", len(near))
					}
				})
			}
		})
	}
}

var (
	craftMu    sync.Mutex
	craftCache = map[string][]lab.Packet{}
)

// craftFor writes to path the frames `craft.py WHAT ARGS` makes, addressed
// to dstMAC. scapy is slow to start, and the frames differ between labs
// only in the destination MAC (which no checksum covers), so each set is
// crafted once per test run and readdressed.
func craftFor(t *testing.T, path, dstMAC, what string, args ...string) []lab.Packet {
	t.Helper()
	key := what + " " + strings.Join(args, " ")
	craftMu.Lock()
	pkts, ok := craftCache[key]
	craftMu.Unlock()
	if !ok {
		const placeholder = "02:00:00:00:00:00"
		tmp := path + ".crafted"
		argv := append([]string{what, tmp}, args...)
		craft(t, append(argv, "--src-mac", injectMAC, "--dst-mac", placeholder)...)
		var err error
		if pkts, err = lab.ReadPcap(tmp); err != nil {
			t.Fatal(err)
		}
		craftMu.Lock()
		craftCache[key] = pkts
		craftMu.Unlock()
	}
	mac, err := net.ParseMAC(dstMAC)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]lab.Packet, len(pkts))
	for i, p := range pkts {
		data := append([]byte(nil), p.Data...)
		copy(data[0:6], mac)
		out[i] = lab.Packet{Time: p.Time, Data: data, OrigLen: p.OrigLen}
	}
	if err := lab.WritePcap(path, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func firstItems(s []string, n int) []string {
	if len(s) > n {
		return append(s[:n:n], "...")
	}
	return s
}
