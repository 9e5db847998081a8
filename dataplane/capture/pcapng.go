package capture

import (
	"fmt"
	"io"
	"runtime"
	"strings"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// WritePcapNG writes the frames f selects, oldest first, as one pcapng
// section with one Ethernet interface per port ("uplink", "rack"). Each
// packet keeps its original length and carries a comment
// "reason=<name> rule=<id> source=<key>[,<key>]". Frames overwritten while
// the file is being written are left out. It returns how many packets it
// wrote.
func (r *Ring) WritePcapNG(w io.Writer, f Filter) (int, error) {
	recs := r.selectRecords(f)
	ports := []uint8{PortUplink, PortRack}
	for i := range recs {
		if p := recs[i].port; !containsPort(ports, p) {
			ports = append(ports, p)
		}
	}
	ng, err := pcapgo.NewNgWriterInterface(w, r.iface(ports[0]), pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: "rackwall drop capture", OS: runtime.GOOS, Hardware: runtime.GOARCH},
	})
	if err != nil {
		return 0, err
	}
	ifindex := map[uint8]int{ports[0]: 0}
	for _, p := range ports[1:] {
		id, err := ng.AddInterface(r.iface(p))
		if err != nil {
			return 0, err
		}
		ifindex[p] = id
	}
	written := 0
	buf := make([]byte, 0, r.snap)
	for i := range recs {
		rec := &recs[i]
		data, ok := r.copyFrame(rec.seq, buf)
		if !ok {
			continue
		}
		ci := gopacket.CaptureInfo{
			Timestamp:      rec.export().Time,
			CaptureLength:  len(data),
			Length:         int(rec.length),
			InterfaceIndex: ifindex[rec.port],
		}
		opts := pcapgo.NgPacketOptions{Comments: []string{Comment(rec.export())}}
		if err := ng.WritePacketWithOptions(ci, data, opts); err != nil {
			return written, err
		}
		written++
	}
	return written, ng.Flush()
}

func (r *Ring) iface(port uint8) pcapgo.NgInterface {
	return pcapgo.NgInterface{
		Name:                PortName(port),
		LinkType:            layers.LinkTypeEthernet,
		SnapLength:          uint32(r.snap),
		TimestampResolution: 9,
	}
}

func containsPort(ps []uint8, p uint8) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}

// Comment is the pcapng packet comment for a captured frame, e.g.
// "reason=frag_overlap rule=F4 source=192.0.2.7,mac-02:00:00:00:00:01".
// Keys are written without spaces (source.Parse reads them back) so the
// comment splits on spaces into key=value fields.
func Comment(rec Record) string {
	keys := make([]string, len(rec.Sources))
	for i, k := range rec.Sources {
		keys[i] = strings.Replace(k.String(), "mac ", "mac-", 1)
	}
	src := strings.Join(keys, ",")
	if src == "" {
		src = "none"
	}
	return fmt.Sprintf("reason=%s rule=%s source=%s", rec.Reason, rec.Reason.Rule(), src)
}
