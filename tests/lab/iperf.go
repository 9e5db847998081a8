package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// IperfServer starts `iperf3 -s` on port in ns and waits until it listens.
// It runs until the lab closes (or Stop).
func (l *Lab) IperfServer(ns string, port int) (*Proc, error) {
	p, err := l.Start(ns, "iperf3", "-s", "-p", strconv.Itoa(port), "--forceflush")
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Output(), "listening") {
		if done, err := p.Exited(); done {
			return nil, fmt.Errorf("iperf3 server exited: %v: %s", err, p.Output())
		}
		if time.Now().After(deadline) {
			p.Stop()
			return nil, fmt.Errorf("iperf3 server not listening after 10s: %s", p.Output())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return p, nil
}

// IperfResult is what the lab reads from `iperf3 -J`.
type IperfResult struct {
	// Received is goodput at the receiver in bits per second (TCP:
	// sum_received; UDP: sent rate minus loss).
	Received float64
	// Sent is the sender's rate in bits per second.
	Sent float64
	// UDP only: datagrams sent, and how many of those never arrived.
	Packets, Lost int64
	LostPercent   float64
	// BytesSent and BytesReceived over the whole run.
	BytesSent, BytesReceived int64
}

type iperfSum struct {
	Bytes         int64   `json:"bytes"`
	BitsPerSecond float64 `json:"bits_per_second"`
	Packets       int64   `json:"packets"`
	LostPackets   int64   `json:"lost_packets"`
	LostPercent   float64 `json:"lost_percent"`
}

type iperfJSON struct {
	End struct {
		SumSent     iperfSum `json:"sum_sent"`
		SumReceived iperfSum `json:"sum_received"`
	} `json:"end"`
	Error string `json:"error"`
}

// Iperf runs an iperf3 client in ns (args after -c, e.g. the server
// address and -t 5) with JSON output and returns its summary.
func (l *Lab) Iperf(ns string, args ...string) (IperfResult, error) {
	argv := append([]string{"iperf3", "-J", "-c"}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := command(ctx, ns, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr // warnings there would spoil the JSON on stdout
	l.logf("[%s] %s", nsLabel(ns), strings.Join(argv, " "))
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("[%s] %s: %w: %s", nsLabel(ns), strings.Join(argv, " "), err, strings.TrimSpace(stderr.String()))
	}
	var j iperfJSON
	if jerr := json.Unmarshal(out, &j); jerr != nil {
		if err != nil {
			return IperfResult{}, err
		}
		return IperfResult{}, fmt.Errorf("iperf3 output: %w", jerr)
	}
	if j.Error != "" {
		return IperfResult{}, fmt.Errorf("iperf3 %s: %s", strings.Join(args, " "), j.Error)
	}
	if err != nil {
		return IperfResult{}, err
	}
	r := IperfResult{
		Received: j.End.SumReceived.BitsPerSecond, Sent: j.End.SumSent.BitsPerSecond,
		BytesSent: j.End.SumSent.Bytes, BytesReceived: j.End.SumReceived.Bytes,
	}
	for _, a := range args {
		if a == "-u" || a == "--udp" {
			// The receiver counts datagrams up to the highest sequence
			// number it saw and the gaps below it; datagrams lost after the
			// last one that arrived show up only against the sender's
			// count, so delivery is measured against that.
			sent := j.End.SumSent.Packets
			got := j.End.SumReceived.Packets - j.End.SumReceived.LostPackets
			r.Packets, r.Lost = sent, sent-got
			if sent > 0 {
				r.LostPercent = 100 * float64(r.Lost) / float64(sent)
				delivered := float64(got) / float64(sent)
				r.BytesReceived = int64(float64(r.BytesSent) * delivered)
				r.Received = r.Sent * delivered
			}
		}
	}
	return r, nil
}
