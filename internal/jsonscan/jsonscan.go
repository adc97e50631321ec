// Package jsonscan reads the plain form of small JSON documents without
// reflection, for the hot paths of the HTTP API (transactions, their
// answers): exact field names, each once, no null, strings without
// escapes and with valid UTF-8, decimal unsigned integers. Every method
// returns false at the first thing it does not take, and the caller then
// decodes the document with encoding/json, which stays the definition of
// what it means: so whatever a Scanner takes, encoding/json would read
// alike (the callers' fuzz tests check it).
package jsonscan

import (
	"bytes"
	"unicode/utf8"
)

// Scanner walks a JSON document; every method returns false at the first
// thing it does not take.
type Scanner struct {
	b []byte
	i int
}

// New returns a Scanner of b.
func New(b []byte) *Scanner { return &Scanner{b: b} }

// Done skips trailing space and reports whether the document ends there.
func (p *Scanner) Done() bool {
	p.space()
	return p.i == len(p.b)
}

func (p *Scanner) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// Next skips space and consumes c.
func (p *Scanner) Next(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// Peek skips space and reports whether c comes next.
func (p *Scanner) Peek(c byte) bool {
	p.space()
	return p.i < len(p.b) && p.b[p.i] == c
}

// Object reads {"key": value, ...}, handing each key to field, which reads
// the value; a key seen twice is refused.
func (p *Scanner) Object(field func(key []byte) bool) bool {
	if !p.Next('{') {
		return false
	}
	if p.Next('}') {
		return true
	}
	var seen [8][]byte // the objects read this way have few fields
	n := 0
	for {
		key, ok := p.Raw()
		if !ok || !p.Next(':') || n == len(seen) {
			return false
		}
		for _, k := range seen[:n] {
			if bytes.Equal(k, key) {
				return false
			}
		}
		seen[n] = key
		n++
		if !field(key) {
			return false
		}
		if p.Next('}') {
			return true
		}
		if !p.Next(',') {
			return false
		}
	}
}

// Array reads [elem, ...].
func (p *Scanner) Array(elem func() bool) bool {
	if !p.Next('[') {
		return false
	}
	if p.Next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.Next(']') {
			return true
		}
		if !p.Next(',') {
			return false
		}
	}
}

// Str reads a string with no escapes, no control characters and valid
// UTF-8 (encoding/json would replace invalid bytes).
func (p *Scanner) Str() (string, bool) {
	b, ok := p.Raw()
	return string(b), ok
}

// Raw is Str without the copy: the bytes between the quotes.
func (p *Scanner) Raw() ([]byte, bool) {
	if !p.Next('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for ; p.i < len(p.b); p.i++ {
		switch c := p.b[p.i]; {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// Uint reads a non-negative decimal integer that fits in a uint64, without
// a leading zero (JSON has none), fraction or exponent.
func (p *Scanner) Uint() (uint64, bool) {
	p.space()
	start := p.i
	var n uint64
	for ; p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9'; p.i++ {
		d := uint64(p.b[p.i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false
		}
		n = n*10 + d
	}
	switch digits := p.i - start; {
	case digits == 0, digits > 1 && p.b[start] == '0':
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	return n, true
}

// Lit reads the literal s (true, false).
func (p *Scanner) Lit(s string) bool {
	p.space()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}
