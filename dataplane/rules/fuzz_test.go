package rules

import "testing"

// FuzzParse checks the parser never panics and that whatever it accepts
// prints canonical text that parses back to the same rule set and the same
// text.
func FuzzParse(f *testing.F) {
	f.Add("set default block\npass in proto tcp from any to 10.0.0.1 port { 80, 443 }\n")
	f.Fuzz(func(t *testing.T, src string) {
		rs, err := Parse(src)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		text := rs.String()
		again, err := Parse(text)
		if err != nil {
			t.Fatalf("canonical text does not parse: %v\n%s", err, text)
		}
		if !again.Equal(rs) {
			t.Fatalf("canonical text parses to a different rule set:\n%s", text)
		}
		if again.String() != text {
			t.Fatalf("canonical text not stable:\n%s\n%s", text, again.String())
		}
	})
}
