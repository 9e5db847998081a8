package config

import "strings"

// Format writes p as a canonical policy file: every knob, each preceded by a
// comment with its rule id, default and limits. Parse reads the result back
// to an equal Policy, so the appliance can store what the UI edited and an
// operator can diff two revisions line by line.
func (p Policy) Format() string {
	var b strings.Builder
	b.WriteString("# rackwall dataplane policy. Knob names and rule ids follow POLICY.md.\n")
	b.WriteString("# One `knob: value` per line; '#' starts a comment. Knobs left out keep their default.\n")
	for i := range knobTable {
		k := &knobTable[i]
		if k.Shorthand {
			continue
		}
		b.WriteString("\n# ")
		b.WriteString(k.Rule)
		b.WriteString(": ")
		b.WriteString(k.Description)
		b.WriteString(".\n# default ")
		b.WriteString(k.Default)
		b.WriteString("; ")
		b.WriteString(k.Range())
		if k.Unit != "" && k.Type == TypeInt {
			b.WriteString(" ")
			b.WriteString(k.Unit)
		}
		b.WriteString("\n")
		b.WriteString(k.Name)
		b.WriteString(": ")
		b.WriteString(k.Value(&p))
		b.WriteString("\n")
	}
	return b.String()
}
