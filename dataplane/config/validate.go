package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
)

// Validate checks a Policy built in code (by the UI, say) against the same
// limits Parse enforces. Its errors carry no position.
func (p Policy) Validate() error {
	return p.check(nil)
}

type position struct{ line, col int }

func positionsOf(as []assignment) map[string]position {
	m := make(map[string]position, len(as))
	for _, a := range as {
		m[knobTable[a.knob].Name] = position{a.line, a.valueCol}
	}
	return m
}

// check runs every knob's own limits and the limits between knobs. pos says
// where each knob was set in the file; an error between two knobs is placed
// on whichever of them the file set last.
func (p Policy) check(pos map[string]position) error {
	at := func(names ...string) (int, int) {
		best := position{}
		for _, n := range names {
			if q, ok := pos[n]; ok && q.line > best.line {
				best = q
			}
		}
		return best.line, best.col
	}
	fail := func(name, msg string, names ...string) error {
		line, col := at(append([]string{name}, names...)...)
		return &Error{Line: line, Col: col, Msg: name + ": " + msg}
	}
	for i := range knobTable {
		k := &knobTable[i]
		if k.Shorthand {
			continue
		}
		switch k.Type {
		case TypeInt, TypeDuration, TypeSize:
			if msg := k.checkRange(k.getInt(&p)); msg != "" {
				return fail(k.Name, msg)
			}
		case TypeEnum:
			if v := k.getInt(&p); v < 0 || v >= int64(len(k.Choices)) {
				return fail(k.Name, fmt.Sprintf("invalid value %d (want %s)", v, k.Range()))
			}
		case TypeEthertypes:
			if msg := checkEthertypes(p.ExtraEthertypes, int(k.Max)); msg != "" {
				return fail(k.Name, msg)
			}
		case TypePrefixes:
			if msg := checkPrefixes(p.NeverQuarantine, int(k.Max)); msg != "" {
				return fail(k.Name, msg)
			}
		}
	}
	if p.PerSourceFloor > p.FragmentMemory {
		return fail("per_source_floor", fmt.Sprintf("%s is more than fragment_memory (%s)",
			formatSize(p.PerSourceFloor), formatSize(p.FragmentMemory)), "fragment_memory")
	}
	if p.QuarantineMax < p.QuarantineTime {
		return fail("quarantine_max", fmt.Sprintf("%s is less than quarantine_time (%s)",
			formatDuration(p.QuarantineMax), formatDuration(p.QuarantineTime)), "quarantine_time")
	}
	if int64(p.CaptureFrames)*int64(p.CaptureSnap) > maxCaptureBytes {
		return fail("capture_frames", fmt.Sprintf("%d frames of %d bytes need %s; capture_frames × capture_snap may be at most %s",
			p.CaptureFrames, p.CaptureSnap, formatSize(int64(p.CaptureFrames)*int64(p.CaptureSnap)), formatSize(maxCaptureBytes)), "capture_snap")
	}
	return nil
}

func checkEthertypes(ts []uint16, max int) string {
	if len(ts) > max {
		return fmt.Sprintf("%d entries, at most %d allowed", len(ts), max)
	}
	seen := map[uint16]bool{}
	for _, t := range ts {
		s := fmt.Sprintf("0x%04x", t)
		if _, msg := parseEthertype(s); msg != "" {
			return msg
		}
		if seen[t] {
			return s + " listed twice"
		}
		seen[t] = true
	}
	return ""
}

func checkPrefixes(ps []netip.Prefix, max int) string {
	if len(ps) > max {
		return fmt.Sprintf("%d entries, at most %d allowed", len(ps), max)
	}
	seen := map[netip.Prefix]bool{}
	for _, p := range ps {
		if !p.IsValid() {
			return "invalid prefix"
		}
		if p != p.Masked() {
			return fmt.Sprintf("%s has host bits set (write %s)", p, p.Masked())
		}
		if p.Addr().Zone() != "" || p.Addr().Is4In6() {
			return fmt.Sprintf("%s: write IPv4 as plain IPv4, without zones", p)
		}
		if seen[p] {
			return fmt.Sprintf("%s listed twice", p)
		}
		seen[p] = true
	}
	return ""
}

// Set changes one knob from its text form, as a form in the UI submits it,
// with the same checks as Parse (including those between knobs). On error
// p is unchanged.
func (p *Policy) Set(name, value string) error {
	i, ok := knobIndex[name]
	if !ok {
		return &Error{Msg: fmt.Sprintf("unknown knob %q", name)}
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return &Error{Msg: fmt.Sprintf("%s: missing value (%s)", name, knobTable[i].Range())}
	}
	next := p.clone()
	a := assignment{knob: i, value: value, text: value}
	if err := setValue(&next, &knobTable[i], a); err != nil {
		e := err.(*Error)
		return &Error{Msg: e.Msg} // no file, no position
	}
	if err := next.check(nil); err != nil {
		return err
	}
	*p = next
	return nil
}

// clone copies p so that changing the copy's lists leaves p alone.
func (p Policy) clone() Policy {
	p.ExtraEthertypes = slices.Clone(p.ExtraEthertypes)
	p.NeverQuarantine = slices.Clone(p.NeverQuarantine)
	return p
}
