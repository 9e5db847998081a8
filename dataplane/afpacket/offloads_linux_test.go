package afpacket

import "testing"

// TestReceivesAggregatesFollowsGRO: the answer follows what ethtool sets
// on a veth, and a missing interface is an error, not "no".
func TestReceivesAggregatesFollowsGRO(t *testing.T) {
	if !inNetns(t) {
		return
	}
	vethPair(t, "rwa", "rwb") // offloads off
	defer sh(t, "ip link del rwa")
	if on, err := ReceivesAggregates("rwa"); err != nil || on {
		t.Fatalf("GRO off: ReceivesAggregates = %v, %v", on, err)
	}
	sh(t, "ethtool -K rwa gro on")
	if on, err := ReceivesAggregates("rwa"); err != nil || !on {
		t.Fatalf("GRO on: ReceivesAggregates = %v, %v", on, err)
	}
	if _, err := ReceivesAggregates("rw-missing"); err == nil {
		t.Fatal("a missing interface answered")
	}
}
