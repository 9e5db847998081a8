package rules

import "fmt"

// SyntaxError is a problem in a rules file, at a 1-based line and column
// (counted in characters).
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}
