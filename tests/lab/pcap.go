package lab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Packet is one frame of a classic pcap file.
type Packet struct {
	Time time.Time
	Data []byte
	// OrigLen is the length on the wire; larger than len(Data) if the
	// capture cut the frame.
	OrigLen int
}

// LinkTypeEthernet is the only link type the lab reads and writes.
const LinkTypeEthernet = 1

// ReadPcap reads a classic pcap file of Ethernet frames (either byte order,
// microsecond or nanosecond timestamps).
func ReadPcap(path string) ([]Packet, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hdr [24]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, fmt.Errorf("%s: pcap header: %w", path, err)
	}
	var order binary.ByteOrder
	nano := false
	switch {
	case binary.LittleEndian.Uint32(hdr[:4]) == 0xa1b2c3d4:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(hdr[:4]) == 0xa1b2c3d4:
		order = binary.BigEndian
	case binary.LittleEndian.Uint32(hdr[:4]) == 0xa1b23c4d:
		order, nano = binary.LittleEndian, true
	case binary.BigEndian.Uint32(hdr[:4]) == 0xa1b23c4d:
		order, nano = binary.BigEndian, true
	default:
		return nil, fmt.Errorf("%s: not a classic pcap file (magic % x)", path, hdr[:4])
	}
	if lt := order.Uint32(hdr[20:24]) & 0x0fffffff; lt != LinkTypeEthernet {
		return nil, fmt.Errorf("%s: link type %d, want Ethernet (1)", path, lt)
	}
	var out []Packet
	for {
		var rec [16]byte
		if _, err := io.ReadFull(f, rec[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, fmt.Errorf("%s: record %d header: %w", path, len(out)+1, err)
		}
		sec, frac := order.Uint32(rec[0:4]), order.Uint32(rec[4:8])
		incl, orig := order.Uint32(rec[8:12]), order.Uint32(rec[12:16])
		if incl > 1<<18 {
			return out, fmt.Errorf("%s: record %d: length %d", path, len(out)+1, incl)
		}
		data := make([]byte, incl)
		if _, err := io.ReadFull(f, data); err != nil {
			return out, fmt.Errorf("%s: record %d: %w", path, len(out)+1, err)
		}
		ns := int64(frac) * 1000
		if nano {
			ns = int64(frac)
		}
		out = append(out, Packet{Time: time.Unix(int64(sec), ns), Data: data, OrigLen: int(orig)})
	}
}

// WritePcap writes frames as a classic microsecond pcap file. Frames
// without a time get one 10 µs apart, so a replay sends them promptly.
func WritePcap(path string, pkts []Packet) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	var hdr [24]byte
	le := binary.LittleEndian
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 262144)
	le.PutUint32(hdr[20:], LinkTypeEthernet)
	buf := append([]byte(nil), hdr[:]...)
	base := time.Unix(1_700_000_000, 0)
	for i, p := range pkts {
		t := p.Time
		if t.IsZero() {
			t = base.Add(time.Duration(i) * 10 * time.Microsecond)
		}
		var rec [16]byte
		le.PutUint32(rec[0:], uint32(t.Unix()))
		le.PutUint32(rec[4:], uint32(t.Nanosecond()/1000))
		le.PutUint32(rec[8:], uint32(len(p.Data)))
		orig := p.OrigLen
		if orig < len(p.Data) {
			orig = len(p.Data)
		}
		le.PutUint32(rec[12:], uint32(orig))
		buf = append(buf, rec[:]...)
		buf = append(buf, p.Data...)
	}
	if _, err := f.Write(buf); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
