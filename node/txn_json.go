package node

import (
	"bytes"
	"unicode/utf8"
)

// decodeTxnFast reads the body of POST /v1/txn without reflection: decoding
// with encoding/json took half of a leader's CPU under transactions of 100
// puts. It reads only the plain form of the request (exact field names, each
// at most once, no null, strings without escapes, decimal revs) and reports
// ok false for anything else, which the caller then decodes with
// encoding/json: that path, with its error messages, stays the definition.
// Whatever this accepts, encoding/json decodes to the same request
// (FuzzDecodeTxnFast checks it).
func decodeTxnFast(b []byte) (req txnRequest, ok bool) {
	p := txnParser{b: b}
	if !p.object(func(key []byte) bool {
		switch string(key) {
		case "if":
			if p.peek('[') {
				req.If = []txnCompare{} // [] decodes to an empty, non-nil slice
			}
			return p.array(func() bool {
				var c txnCompare
				if !p.compare(&c) {
					return false
				}
				req.If = append(req.If, c)
				return true
			})
		case "then":
			return p.ops(&req.Then)
		case "else":
			return p.ops(&req.Else)
		}
		return false
	}) {
		return txnRequest{}, false
	}
	p.space()
	return req, p.i == len(p.b)
}

// txnParser walks a JSON document; every method returns false at the first
// thing it does not take.
type txnParser struct {
	b []byte
	i int
}

func (p *txnParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips space and consumes c.
func (p *txnParser) next(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// peek skips space and reports whether c comes next.
func (p *txnParser) peek(c byte) bool {
	p.space()
	return p.i < len(p.b) && p.b[p.i] == c
}

// object reads {"key": value, ...}, handing each key to field, which reads
// the value; a key seen twice is refused.
func (p *txnParser) object(field func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen [8][]byte // every object here has at most 5 fields
	n := 0
	for {
		key, ok := p.raw()
		if !ok || !p.next(':') || n == len(seen) {
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
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// array reads [elem, ...].
func (p *txnParser) array(elem func() bool) bool {
	if !p.next('[') {
		return false
	}
	if p.next(']') {
		return true
	}
	for {
		if !elem() {
			return false
		}
		if p.next(']') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

func (p *txnParser) ops(out *[]txnOp) bool {
	if p.peek('[') {
		*out = []txnOp{} // [] decodes to an empty, non-nil slice
	}
	return p.array(func() bool {
		var o txnOp
		if !p.object(func(key []byte) bool {
			switch string(key) {
			case "op":
				s, ok := p.str()
				o.Op = s
				return ok
			case "key":
				return p.strPtr(&o.Key)
			case "key_base64":
				return p.strPtr(&o.KeyBase64)
			case "value":
				return p.strPtr(&o.Value)
			case "value_base64":
				return p.strPtr(&o.ValueBase64)
			}
			return false
		}) {
			return false
		}
		*out = append(*out, o)
		return true
	})
}

func (p *txnParser) compare(c *txnCompare) bool {
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "key":
			return p.strPtr(&c.Key)
		case "key_base64":
			return p.strPtr(&c.KeyBase64)
		case "rev":
			n, ok := p.uint()
			c.Rev = &n
			return ok
		case "exists":
			switch {
			case p.lit("true"):
				t := true
				c.Exists = &t
			case p.lit("false"):
				f := false
				c.Exists = &f
			default:
				return false
			}
			return true
		}
		return false
	})
}

func (p *txnParser) strPtr(out **string) bool {
	s, ok := p.str()
	*out = &s
	return ok
}

// str reads a string with no escapes, no control characters and valid
// UTF-8 (encoding/json would replace invalid bytes).
func (p *txnParser) str() (string, bool) {
	b, ok := p.raw()
	return string(b), ok
}

// raw is str without the copy: the bytes between the quotes.
func (p *txnParser) raw() ([]byte, bool) {
	if !p.next('"') {
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

// uint reads a non-negative decimal integer that fits in a uint64, without
// a leading zero (JSON has none), fraction or exponent.
func (p *txnParser) uint() (uint64, bool) {
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

// lit reads the literal s (true, false).
func (p *txnParser) lit(s string) bool {
	p.space()
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}
