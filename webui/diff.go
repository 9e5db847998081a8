package webui

import "strings"

// diffOp is what a diff line does.
type diffOp byte

const (
	diffSame diffOp = ' '
	diffAdd  diffOp = '+'
	diffDel  diffOp = '-'
)

// diffLine is one line of a line diff, with its numbers in the old and new
// text (0 where it does not exist).
type diffLine struct {
	Op       diffOp
	Text     string
	Old, New int
}

// maxDiffCells bounds the LCS table; beyond it the differing middle is
// shown as removed and added whole rather than spending memory on it.
const maxDiffCells = 4 << 20

// lineDiff is a line diff by longest common subsequence, after trimming the
// common head and tail (which is most of a typical edit).
func lineDiff(a, b string) []diffLine {
	al, bl := splitLines(a), splitLines(b)
	var out []diffLine
	head := 0
	for head < len(al) && head < len(bl) && al[head] == bl[head] {
		out = append(out, diffLine{Op: diffSame, Text: al[head], Old: head + 1, New: head + 1})
		head++
	}
	tail := 0
	for tail < len(al)-head && tail < len(bl)-head && al[len(al)-1-tail] == bl[len(bl)-1-tail] {
		tail++
	}
	am, bm := al[head:len(al)-tail], bl[head:len(bl)-tail]
	if len(am)*len(bm) > maxDiffCells {
		for i, l := range am {
			out = append(out, diffLine{Op: diffDel, Text: l, Old: head + i + 1})
		}
		for j, l := range bm {
			out = append(out, diffLine{Op: diffAdd, Text: l, New: head + j + 1})
		}
	} else {
		out = append(out, lcsDiff(am, bm, head)...)
	}
	for i := tail; i > 0; i-- {
		out = append(out, diffLine{Op: diffSame, Text: al[len(al)-i], Old: len(al) - i + 1, New: len(bl) - i + 1})
	}
	return out
}

func lcsDiff(a, b []string, offset int) []diffLine {
	n, m := len(a), len(b)
	// l[i][j] is the LCS length of a[i:] and b[j:].
	l := make([][]int32, n+1)
	for i := range l {
		l[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, diffLine{Op: diffSame, Text: a[i], Old: offset + i + 1, New: offset + j + 1})
			i++
			j++
		case j < m && (i == n || l[i][j+1] >= l[i+1][j]):
			out = append(out, diffLine{Op: diffAdd, Text: b[j], New: offset + j + 1})
			j++
		default:
			out = append(out, diffLine{Op: diffDel, Text: a[i], Old: offset + i + 1})
			i++
		}
	}
	return out
}

func splitLines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// diffChanged reports whether a diff has any change.
func diffChanged(d []diffLine) bool {
	for _, l := range d {
		if l.Op != diffSame {
			return true
		}
	}
	return false
}

// diffHunks keeps only changed lines and up to ctx lines of context around
// them; a nil entry marks a gap.
func diffHunks(d []diffLine, ctx int) []*diffLine {
	keep := make([]bool, len(d))
	for i, l := range d {
		if l.Op == diffSame {
			continue
		}
		for k := max(0, i-ctx); k <= min(len(d)-1, i+ctx); k++ {
			keep[k] = true
		}
	}
	var out []*diffLine
	gap := false
	for i := range d {
		if !keep[i] {
			gap = true
			continue
		}
		if gap {
			out = append(out, nil)
		}
		gap = false
		out = append(out, &d[i])
	}
	if gap && len(out) > 0 {
		out = append(out, nil)
	}
	return out
}
