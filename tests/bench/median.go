package main

import "slices"

// medianRounds reduces rounds of measurements to one row per position: the
// median of each figure over the rounds, so one round disturbed by the rest
// of the machine moves the report less than an average would. Every round
// measures the same rows in the same order; a round cut short gives only the
// rows it has. figures names a row's measured values; keep builds the row
// from that position's rows of every round, with its labels and whatever is
// not a median, before the figures are filled in.
func medianRounds[T any](rounds [][]T, figures func(*T) []*float64, keep func(same []T) T) []T {
	if len(rounds) == 0 {
		return nil
	}
	out := make([]T, len(rounds[0]))
	for i := range out {
		var same []T
		for _, r := range rounds {
			if i < len(r) {
				same = append(same, r[i])
			}
		}
		row := keep(same)
		for f, dst := range figures(&row) {
			vs := make([]float64, len(same))
			for j := range same {
				vs[j] = *figures(&same[j])[f]
			}
			*dst = median(vs)
		}
		out[i] = row
	}
	return out
}

// figures are the column's measured values, the ones medianRounds takes the
// median of.
func (c *column) figures() []*float64 {
	return []*float64{&c.tcp1, &c.tcp2, &c.cpuPerGbit, &c.udpPPS, &c.udpLoss, &c.udpGotPS, &c.lostRing, &c.lostTx, &c.lostRcvbuf}
}

// medianColumns reduces rounds of measurements to one column per box. Peak
// RSS is the highest any round saw.
func medianColumns(rounds [][]column) []column {
	return medianRounds(rounds, (*column).figures, func(cs []column) column {
		c := column{name: cs[0].name, hasBoxCounters: cs[0].hasBoxCounters}
		for _, x := range cs {
			c.rss = max(c.rss, x.rss)
		}
		return c
	})
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
