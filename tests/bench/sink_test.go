package main

import (
	"net/netip"
	"strings"
	"testing"
)

// nftListing is `nft list table netdev …` as nft 1.0.6 prints it.
const nftListing = `table netdev rackwall_bench_sink {
	chain ingress {
		type filter hook ingress device "sb-1a2b3c" priority filter; policy drop;
		ip daddr 10.77.0.21 udp dport 7777 counter packets 1234567 bytes 74074020
	}
}
`

func TestParseSinkCounter(t *testing.T) {
	p, b, err := parseSinkCounter(nftListing)
	if err != nil {
		t.Fatal(err)
	}
	if p != 1234567 || b != 74074020 {
		t.Errorf("got %d packets, %d bytes; want 1234567, 74074020", p, b)
	}
}

func TestParseSinkCounterRefusesAListingWithoutCounter(t *testing.T) {
	noCounter := strings.Replace(nftListing, "counter packets 1234567 bytes 74074020", "", 1)
	if _, _, err := parseSinkCounter(noCounter); err == nil {
		t.Error("listing without a counter: want an error, not zero frames")
	}
	garbled := strings.Replace(nftListing, "packets 1234567", "packets 12x4", 1)
	if _, _, err := parseSinkCounter(garbled); err == nil {
		t.Error("counter that is no number: want an error")
	}
}

func TestSinkRulesetPutsChainStatementsOnTheirOwnLines(t *testing.T) {
	r := sinkRuleset("sb-1a2b3c", netip.MustParseAddr("10.77.0.21"), 7777)
	for _, want := range []string{
		"\t\ttype filter hook ingress device \"sb-1a2b3c\" priority 0\n",
		"\t\tpolicy drop\n",
		"\t\tip daddr 10.77.0.21 udp dport 7777 counter\n",
	} {
		if !strings.Contains(r, want) {
			t.Errorf("ruleset lacks line %q:\n%s", want, r)
		}
	}
	if strings.Contains(r, ";") {
		t.Errorf("ruleset joins statements with ';':\n%s", r)
	}
}
