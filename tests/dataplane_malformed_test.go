package tests

import (
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/rackwall/rackwall/dataplane/reason"
	"github.com/rackwall/rackwall/tests/lab"
)

// malformedCases maps each case tests/scapy/craft.py writes to the drop
// reasons that may count it. Where POLICY.md leaves two readings (is a
// total length beyond the frame H1 or L3?) both are accepted; a frame must
// still be counted exactly once, under one of them.
var malformedCases = map[string][]reason.Reason{
	"truncated_ipv4_header":       {reason.FrameTruncated, reason.IPHeaderInvalid},
	"truncated_ipv4_total_length": {reason.FrameTruncated, reason.IPHeaderInvalid},
	"truncated_ipv6_payload":      {reason.FrameTruncated, reason.IPHeaderInvalid},
	"truncated_in_vlan":           {reason.FrameTruncated, reason.IPHeaderInvalid},
	"vlan_too_deep":               {reason.VLANMalformed},
	"ethertype_blocked":           {reason.EthertypeBlocked},
	"arp_malformed":               {reason.ARPMalformed},
	"ip_header_invalid":           {reason.IPHeaderInvalid},
	"ip_checksum_invalid":         {reason.IPChecksumInvalid},
	"martian_source":              {reason.MartianSource},
	"ip_source_route":             {reason.IPSourceRoute},
	"ip_options_invalid":          {reason.IPOptionsInvalid},
	"ipv6_frag_header_repeated":   {reason.IPv6FragHeaderRepeated},
	"ipv6_routing_type0":          {reason.IPv6RoutingType0},
}

// TestMalformedFramesDroppedAndCounted sends frames that each break one L
// or H rule into the uplink port and requires that none leaves the rack
// port and that each is counted once under its rule's reason.
func TestMalformedFramesDroppedAndCounted(t *testing.T) {
	needScapy(t)
	l := newLab(t, 1, "tcpdump", "tcpreplay")
	dp := startDataplane(t, l)
	dir := tempDir(t, l, "malformed")
	d := sendPaths(l)[0]
	craft(t, "malformed", dir, "--src-mac", injectMAC, "--dst-mac", d.dstMAC)

	files, err := filepath.Glob(filepath.Join(dir, "*.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var crafted []string
	for _, f := range files {
		crafted = append(crafted, strings.TrimSuffix(filepath.Base(f), ".pcap"))
	}
	var known []string
	for name := range malformedCases {
		known = append(known, name)
	}
	sort.Strings(known)
	if !slices.Equal(crafted, known) {
		t.Fatalf("craft.py wrote cases %v, the test knows %v", crafted, known)
	}

	far, err := l.StartCapture(d.toNS, d.toIf, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range known {
		t.Run(name, func(t *testing.T) {
			pcap := filepath.Join(dir, name+".pcap")
			frames, err := lab.ReadPcap(pcap)
			if err != nil {
				t.Fatal(err)
			}
			before, err := dp.Drops()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Replay(d.fromNS, d.fromIf, pcap, "-t"); err != nil {
				t.Fatal(err)
			}
			delta := waitDrops(t, dp, before, float64(len(frames)), 3*time.Second)
			var allowed, total float64
			for label, v := range delta {
				total += v
				r, ok := reason.Parse(label)
				if ok && slices.Contains(malformedCases[name], r) {
					allowed += v
				}
			}
			if allowed != float64(len(frames)) || total != float64(len(frames)) {
				t.Errorf("%d frames sent; drops counted %v, want all %d under %v", len(frames), delta, len(frames), malformedCases[name])
			}
		})
	}
	time.Sleep(500 * time.Millisecond)
	pkts, err := far.Stop()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fromInjector(pkts) {
		t.Errorf("malformed frame left the box: %s", hexHead(f))
	}
	if t.Failed() {
		t.Logf("dataplane output (last 2 KiB):\n%s", tail(dp.Output(), 2048))
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
