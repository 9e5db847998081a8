package config

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"unicode/utf8"
)

// Error is a policy file error at a position. Line and Col are 1-based and
// point at the offending token (Col counts characters, not bytes); both are
// 0 for errors about a Policy that did not come from a file.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// maxFileBytes bounds what Parse reads; a policy file is a few kilobytes.
const maxFileBytes = 1 << 20

// Parse reads a policy file: one `knob: value` per line, `#` starts a
// comment, blank lines are ignored. Knobs not in the file keep their
// Default(). Unknown and repeated knobs, malformed and out-of-range values
// are errors naming line and column; on error the returned Policy is
// Default() so nothing half-read is ever used.
func Parse(src []byte) (Policy, error) {
	if len(src) > maxFileBytes {
		return Default(), &Error{Line: 1, Col: 1, Msg: fmt.Sprintf("policy file is %d bytes; at most %d are read", len(src), maxFileBytes)}
	}
	assigns, err := scan(src)
	if err != nil {
		return Default(), err
	}
	p := Default()
	// Apply in table order, not file order, so a shorthand
	// (min_fragment_bytes) never overrides the specific knob it abbreviates
	// wherever the two appear.
	byKnob := make(map[int]assignment, len(assigns))
	for _, a := range assigns {
		byKnob[a.knob] = a
	}
	for i := range knobTable {
		a, ok := byKnob[i]
		if !ok {
			continue
		}
		if err := setValue(&p, &knobTable[i], a); err != nil {
			return Default(), err
		}
	}
	if err := p.check(positionsOf(assigns)); err != nil {
		return Default(), err
	}
	return p, nil
}

// assignment is one `knob: value` line.
type assignment struct {
	knob       int // index into knobTable
	line       int
	keyCol     int
	value      string
	valueCol   int
	valueStart int // byte offset of value within text, for list item columns
	text       string
}

// scan splits the file into assignments, checking everything that does not
// depend on the knob's type: line syntax, key names, duplicates.
func scan(src []byte) ([]assignment, error) {
	var out []assignment
	seen := map[int]int{} // knob index -> line
	lineNo := 0
	for len(src) > 0 {
		lineNo++
		var raw []byte
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			raw, src = src[:i], src[i+1:]
		} else {
			raw, src = src, nil
		}
		raw = bytes.TrimSuffix(raw, []byte("\r"))
		if !utf8.Valid(raw) {
			bad := 0
			for bad < len(raw) {
				r, size := utf8.DecodeRune(raw[bad:])
				if r == utf8.RuneError && size <= 1 {
					break
				}
				bad += size
			}
			return nil, &Error{Line: lineNo, Col: column(string(raw), bad), Msg: "invalid UTF-8"}
		}
		text := string(raw)
		if i := strings.IndexFunc(text, isControl); i >= 0 {
			return nil, &Error{Line: lineNo, Col: column(text, i), Msg: fmt.Sprintf("unexpected control character %U", []rune(text[i:])[0])}
		}
		body := text
		if i := strings.IndexByte(body, '#'); i >= 0 {
			body = body[:i]
		}
		body = strings.TrimRight(body, " \t")
		keyStart := len(body) - len(strings.TrimLeft(body, " \t"))
		if keyStart == len(body) {
			continue // blank or comment-only
		}
		colon := strings.IndexByte(body, ':')
		if colon < 0 {
			return nil, &Error{Line: lineNo, Col: column(text, keyStart),
				Msg: fmt.Sprintf("want `knob: value`, found %q", body[keyStart:])}
		}
		key := strings.TrimRight(body[keyStart:colon], " \t")
		if key == "" {
			return nil, &Error{Line: lineNo, Col: column(text, keyStart), Msg: "missing knob name before ':'"}
		}
		idx, ok := knobIndex[key]
		if !ok {
			msg := fmt.Sprintf("unknown knob %q", key)
			if s := suggest(key); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			return nil, &Error{Line: lineNo, Col: column(text, keyStart), Msg: msg}
		}
		if first, dup := seen[idx]; dup {
			return nil, &Error{Line: lineNo, Col: column(text, keyStart),
				Msg: fmt.Sprintf("%s: set twice (first on line %d)", key, first)}
		}
		seen[idx] = lineNo
		rest := body[colon+1:]
		valueStart := colon + 1 + len(rest) - len(strings.TrimLeft(rest, " \t"))
		value := body[valueStart:]
		if value == "" {
			return nil, &Error{Line: lineNo, Col: column(text, colon+1),
				Msg: fmt.Sprintf("%s: missing value (%s)", key, knobTable[idx].Range())}
		}
		out = append(out, assignment{
			knob: idx, line: lineNo, keyCol: column(text, keyStart),
			value: value, valueCol: column(text, valueStart), valueStart: valueStart, text: text,
		})
	}
	return out, nil
}

func isControl(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }

// column turns a byte offset in line into a 1-based character column.
func column(line string, off int) int {
	return utf8.RuneCountInString(line[:off]) + 1
}

// setValue parses a's value for knob k into p, including its range check.
func setValue(p *Policy, k *Knob, a assignment) error {
	fail := func(col int, msg string) error {
		return &Error{Line: a.line, Col: col, Msg: k.Name + ": " + msg}
	}
	switch k.Type {
	case TypeBool:
		v, msg := parseBool(a.value)
		if msg != "" {
			return fail(a.valueCol, msg)
		}
		k.setBool(p, v)
	case TypeEnum:
		for i, c := range k.Choices {
			if a.value == c {
				k.setInt(p, int64(i))
				return nil
			}
		}
		return fail(a.valueCol, fmt.Sprintf("want %s, found %q", k.Range(), a.value))
	case TypeInt, TypeDuration, TypeSize:
		var v int64
		var msg string
		switch k.Type {
		case TypeInt:
			v, msg = parseInt(a.value)
		case TypeDuration:
			v, msg = parseDuration(a.value)
		default:
			v, msg = parseSize(a.value)
		}
		if msg != "" {
			return fail(a.valueCol, msg)
		}
		if msg := k.checkRange(v); msg != "" {
			return fail(a.valueCol, msg)
		}
		k.setInt(p, v)
	case TypeEthertypes:
		items, err := listItems(k, a)
		if err != nil {
			return err
		}
		var ts []uint16
		seen := map[uint16]bool{}
		for _, it := range items {
			t, msg := parseEthertype(it.text)
			if msg != "" {
				return fail(it.col, msg)
			}
			if seen[t] {
				return fail(it.col, fmt.Sprintf("%s listed twice", it.text))
			}
			seen[t] = true
			ts = append(ts, t)
		}
		p.ExtraEthertypes = ts
	case TypePrefixes:
		items, err := listItems(k, a)
		if err != nil {
			return err
		}
		var ps []netip.Prefix
		seen := map[netip.Prefix]bool{}
		for _, it := range items {
			pf, msg := parsePrefix(it.text)
			if msg != "" {
				return fail(it.col, msg)
			}
			if seen[pf] {
				return fail(it.col, fmt.Sprintf("%s listed twice", it.text))
			}
			seen[pf] = true
			ps = append(ps, pf)
		}
		p.NeverQuarantine = ps
	}
	return nil
}

// checkRange returns a message when v is outside the knob's limits.
func (k *Knob) checkRange(v int64) string {
	if v == 0 && k.ZeroIsOff {
		return ""
	}
	if v < k.Min || v > k.Max {
		return fmt.Sprintf("%s is out of range (%s)", k.formatNumber(v), k.Range())
	}
	return ""
}

type listItem struct {
	text string
	col  int
}

// listItems splits a flow list "[a, b, c]" into its entries with their
// columns. "[]" is the empty list.
func listItems(k *Knob, a assignment) ([]listItem, error) {
	v := a.value
	if !strings.HasPrefix(v, "[") || !strings.HasSuffix(v, "]") || len(v) < 2 {
		return nil, &Error{Line: a.line, Col: a.valueCol,
			Msg: fmt.Sprintf("%s: want a list like %s, found %q", k.Name, listExample(k), v)}
	}
	inner := v[1 : len(v)-1]
	if strings.TrimSpace(inner) == "" {
		return nil, nil
	}
	var items []listItem
	off := a.valueStart + 1 // byte offset of inner within the line
	for _, part := range strings.Split(inner, ",") {
		lead := len(part) - len(strings.TrimLeft(part, " \t"))
		item := strings.TrimSpace(part)
		if item == "" {
			return nil, &Error{Line: a.line, Col: column(a.text, off+lead),
				Msg: fmt.Sprintf("%s: empty list entry", k.Name)}
		}
		items = append(items, listItem{text: item, col: column(a.text, off+lead)})
		off += len(part) + 1
	}
	if int64(len(items)) > k.Max {
		return nil, &Error{Line: a.line, Col: items[k.Max].col,
			Msg: fmt.Sprintf("%s: %d entries, at most %d allowed", k.Name, len(items), k.Max)}
	}
	return items, nil
}

func listExample(k *Knob) string {
	if k.Type == TypeEthertypes {
		return "[0x88cc, 0x8809]"
	}
	return "[192.0.2.1, 2001:db8::/48]"
}

// suggest returns the knob name closest to a misspelt one, if any is close.
func suggest(key string) string {
	best, bestDist := "", 4
	for _, k := range knobTable {
		if d := editDistance(key, k.Name); d < bestDist {
			best, bestDist = k.Name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance, enough to catch typos.
func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
