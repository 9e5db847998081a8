package rules

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

type tokKind uint8

const (
	tokWord    tokKind = iota // keywords, numbers, addresses, names
	tokLBrace                 // {
	tokRBrace                 // }
	tokComma                  // ,
	tokLAngle                 // <
	tokRAngle                 // >
	tokBang                   // !
	tokNewline                // end of a statement
	tokEOF
)

type token struct {
	kind      tokKind
	text      string
	line, col int
}

// describe says what a token is, for "found ..." in error messages.
func (t token) describe() string {
	switch t.kind {
	case tokWord:
		return fmt.Sprintf("%q", t.text)
	case tokNewline:
		return "end of line"
	case tokEOF:
		return "end of file"
	}
	return "'" + t.text + "'"
}

// isWordByte reports whether c can be part of a word. Words are wide on
// purpose: "fd77::/64", "1000:2000" and "ipv6-icmp" are one word each and
// the parser reads them by context.
func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '_' || c == '-' || c == '.' || c == ':' || c == '/' || c == '%'
}

// lex splits src into tokens. Newlines inside braces are plain whitespace so
// long lists may span lines; a backslash before a newline joins the lines.
func lex(src string) ([]token, error) {
	var toks []token
	line, col := 1, 1
	depth := 0
	i := 0
	advance := func(n int) {
		col += utf8.RuneCountInString(src[i : i+n])
		i += n
	}
	for i < len(src) {
		c := src[i]
		switch {
		case c == '\n':
			if depth == 0 {
				toks = append(toks, token{tokNewline, "\n", line, col})
			}
			i++
			line, col = line+1, 1
		case c == ' ' || c == '\t' || c == '\r':
			advance(1)
		case c == '#':
			n := strings.IndexByte(src[i:], '\n')
			if n < 0 {
				n = len(src) - i
			}
			advance(n)
		case c == '\\':
			rest := src[i+1:]
			rest = strings.TrimLeft(rest, " \t\r")
			if !strings.HasPrefix(rest, "\n") {
				return nil, &SyntaxError{line, col, "a backslash may only end a line (to continue it on the next)"}
			}
			i = len(src) - len(rest) + 1
			line, col = line+1, 1
		case c == '{' || c == '}' || c == ',' || c == '<' || c == '>' || c == '!':
			k := punctuation(c)
			if c == '{' {
				depth++
			} else if c == '}' && depth > 0 {
				depth--
			}
			toks = append(toks, token{k, string(c), line, col})
			advance(1)
		case isWordByte(c):
			j := i
			for j < len(src) && isWordByte(src[j]) {
				j++
			}
			toks = append(toks, token{tokWord, src[i:j], line, col})
			advance(j - i)
		default:
			r, _ := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError {
				return nil, &SyntaxError{line, col, "the rules file must be UTF-8 text"}
			}
			return nil, &SyntaxError{line, col, fmt.Sprintf("unexpected character %q", r)}
		}
	}
	if depth == 0 {
		toks = append(toks, token{tokNewline, "\n", line, col})
	}
	toks = append(toks, token{tokEOF, "", line, col})
	return toks, nil
}

func punctuation(c byte) tokKind {
	switch c {
	case '{':
		return tokLBrace
	case '}':
		return tokRBrace
	case ',':
		return tokComma
	case '<':
		return tokLAngle
	case '>':
		return tokRAngle
	}
	return tokBang
}
