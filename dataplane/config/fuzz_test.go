package config

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. Whatever it accepts must
// validate and survive Format → Parse unchanged; whatever it rejects must be
// an *Error with a position inside the input.
func FuzzParse(f *testing.F) {
	f.Add([]byte(allKnobsFile))
	f.Add([]byte(Default().Format()))
	f.Fuzz(func(t *testing.T, src []byte) {
		p, err := Parse(src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not *Error: %v", err, err)
			}
			lines := 1
			for _, c := range src {
				if c == '\n' {
					lines++
				}
			}
			if pe.Line < 1 || pe.Line > lines || pe.Col < 1 {
				t.Fatalf("error position outside the input (%d lines): %v", lines, err)
			}
			if !reflect.DeepEqual(p, Default()) {
				t.Fatalf("error returned a half-read policy")
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("Parse accepted a policy that does not validate: %v", err)
		}
		text := p.Format()
		back, err := Parse([]byte(text))
		if err != nil {
			t.Fatalf("Parse(Format()) failed: %v\n%s", err, text)
		}
		if !reflect.DeepEqual(back, p) {
			t.Fatalf("round trip changed the policy\n got  %+v\n want %+v", back, p)
		}
	})
}
