package main

import "slices"

// medianColumns reduces rounds of measurements to one column per box: the
// median of each figure over the rounds, so one round disturbed by the rest
// of the machine moves the report less than an average would. Peak RSS is
// the highest any round saw.
func medianColumns(rounds [][]column) []column {
	if len(rounds) == 0 {
		return nil
	}
	out := make([]column, len(rounds[0]))
	for b := range out {
		var cs []column
		for _, r := range rounds {
			if b < len(r) {
				cs = append(cs, r[b])
			}
		}
		m := func(v func(column) float64) float64 {
			vs := make([]float64, len(cs))
			for i, c := range cs {
				vs[i] = v(c)
			}
			return median(vs)
		}
		c := column{name: cs[0].name, hasBoxCounters: cs[0].hasBoxCounters}
		c.tcp1 = m(func(c column) float64 { return c.tcp1 })
		c.tcp2 = m(func(c column) float64 { return c.tcp2 })
		c.cpuPerGbit = m(func(c column) float64 { return c.cpuPerGbit })
		c.udpPPS = m(func(c column) float64 { return c.udpPPS })
		c.udpLoss = m(func(c column) float64 { return c.udpLoss })
		c.udpGotPS = m(func(c column) float64 { return c.udpGotPS })
		c.lostRing = m(func(c column) float64 { return c.lostRing })
		c.lostTx = m(func(c column) float64 { return c.lostTx })
		c.lostRcvbuf = m(func(c column) float64 { return c.lostRcvbuf })
		for _, x := range cs {
			c.rss = max(c.rss, x.rss)
		}
		out[b] = c
	}
	return out
}

// median of vs (which it sorts); the mean of the middle two for an even count.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// roundRatios is, for each round, figure v of box b over the kernel
// bridge's (box 0) in that same round.
func roundRatios(rounds [][]column, b int, v func(column) float64) []float64 {
	var rs []float64
	for _, r := range rounds {
		if b < len(r) && v(r[0]) > 0 {
			rs = append(rs, v(r[b])/v(r[0]))
		}
	}
	return rs
}
