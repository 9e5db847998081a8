package tests

import (
	"fmt"
	"testing"

	"github.com/rackwall/rackwall/tests/lab"
)

// TestDataplaneGSOStream runs TCP across rackwall-dataplane with the
// NIC-like offloads (checksum, scatter-gather, TSO, GSO, GRO) on every veth
// of the lab, where the dataplane must turn its own offload handling on by
// itself (--offloads auto, the default), and with them all off (the wire
// profile) under --offloads, where every frame carries a virtio_net_hdr
// that asks for nothing. With offloads on, the box's ports hand it 64 KiB
// aggregates: the stream must cross both ways over IPv4 and IPv6 with no
// frame cut in the receive ring, no offload metadata refused, and the
// dataplane must count the segments it forwarded, more than the
// aggregates the kernel counts on the port.
func TestDataplaneGSOStream(t *testing.T) {
	for _, c := range []struct {
		offloads bool
		args     []string
	}{{true, nil}, {false, []string{"--offloads"}}} {
		offloads := c.offloads
		t.Run(fmt.Sprintf("offloads=%v", offloads), func(t *testing.T) {
			l := newLab(t, 1, "iperf3", "ethtool")
			if err := l.SetOffloads(offloads); err != nil {
				t.Fatal(err)
			}
			d, err := l.StartDataplane(lab.DataplaneBinary(t), c.args...)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Stop()
			if _, err := l.IperfServer(l.Server(1), 5201); err != nil {
				t.Fatal(err)
			}
			uplink := lab.Port{NS: l.BoxNS, If: l.UplinkPort}
			kernel0, err := l.LinkCounter(uplink, "rx_packets")
			if err != nil {
				t.Fatal(err)
			}
			m0, err := d.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name string
				args []string
			}{
				{"ipv4", []string{lab.ServerV4(1).String(), "-t", "2"}},
				{"ipv4 reverse", []string{lab.ServerV4(1).String(), "-t", "2", "-R"}},
				{"ipv6", []string{lab.ServerV6(1).String(), "-t", "2"}},
			} {
				r, err := l.Iperf(l.ClientNS, c.args...)
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				t.Logf("%s: %.0f Mbit/s", c.name, r.Received/1e6)
				if r.BytesReceived < 8<<20 {
					t.Errorf("%s: only %d bytes arrived in 2 s", c.name, r.BytesReceived)
				}
			}
			kernel1, err := l.LinkCounter(uplink, "rx_packets")
			if err != nil {
				t.Fatal(err)
			}
			m, err := d.Metrics()
			if err != nil {
				t.Fatal(err)
			}
			if n := m.Sum("rackwall_receive_truncated_total"); n != 0 {
				t.Errorf("%.0f frames cut in the receive ring", n)
			}
			if n := m.Sum("rackwall_drops_total", "reason", "offload_invalid"); n != 0 {
				t.Errorf("%.0f frames dropped as offload_invalid", n)
			}
			if n := m.Sum("rackwall_transmit_drops_total"); n != 0 {
				t.Errorf("%.0f frames lost on transmit", n)
			}
			frames := m.Sum("rackwall_frames_received_total", "port", l.UplinkPort) - m0.Sum("rackwall_frames_received_total", "port", l.UplinkPort)
			kernel := float64(kernel1 - kernel0)
			t.Logf("uplink port: the kernel received %.0f frames, the dataplane counted %.0f", kernel, frames)
			if offloads && frames < 2*kernel {
				t.Errorf("offloads on: %.0f segments counted for %.0f frames the kernel received; aggregates not counted as their segments", frames, kernel)
			}
			if !offloads && frames > kernel {
				t.Errorf("offloads off: %.0f frames counted for %.0f received", frames, kernel)
			}
		})
	}
}
