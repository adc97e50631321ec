package client

import "bytes"

// decodeTxnReplyFast reads the answer to a transaction of puts and deletes
// without reflection: encoding/json's Unmarshal was a sixth of a client's
// CPU under transactions of 100 puts. It takes only what such an answer
// holds (rev, succeeded, results of rev and deleted; exact names, each
// once; decimal numbers) and reports ok false for anything else, which the
// caller then decodes with encoding/json (gets, with their values, always
// go that way). FuzzTxnReplyFast holds it to encoding/json.
func decodeTxnReplyFast(b []byte) (r txnReplyJSON, ok bool) {
	p := replyParser{b: b}
	if !p.object(func(key []byte) bool {
		switch string(key) {
		case "rev":
			n, ok := p.uint()
			r.Rev = &n
			return ok
		case "succeeded":
			v, ok := p.bool()
			r.Succeeded = v
			return ok
		case "results":
			if !p.next('[') {
				return false
			}
			r.Results = []txnResultJSON{} // [] decodes to an empty, non-nil slice
			if p.next(']') {
				return true
			}
			for {
				var res txnResultJSON
				if !p.object(func(key []byte) bool {
					var ok bool
					switch string(key) {
					case "rev":
						res.Rev, ok = p.uint()
					case "deleted":
						res.Deleted, ok = p.bool()
					}
					return ok
				}) {
					return false
				}
				r.Results = append(r.Results, res)
				if p.next(']') {
					return true
				}
				if !p.next(',') {
					return false
				}
			}
		}
		return false
	}) {
		return txnReplyJSON{}, false
	}
	p.space()
	return r, p.i == len(p.b)
}

type replyParser struct {
	b []byte
	i int
}

func (p *replyParser) space() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

func (p *replyParser) next(c byte) bool {
	p.space()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// object reads {"key": value, ...} with keys of letters and underscores,
// each at most once, handing each to field.
func (p *replyParser) object(field func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	var seen [4][]byte
	n := 0
	for {
		if !p.next('"') {
			return false
		}
		start := p.i
		for p.i < len(p.b) && (p.b[p.i] >= 'a' && p.b[p.i] <= 'z' || p.b[p.i] == '_') {
			p.i++
		}
		key := p.b[start:p.i]
		if !p.next('"') || !p.next(':') || n == len(seen) {
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

func (p *replyParser) uint() (uint64, bool) {
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
	if d := p.i - start; d == 0 || d > 1 && p.b[start] == '0' {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	return n, true
}

func (p *replyParser) bool() (bool, bool) {
	p.space()
	switch {
	case bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		return true, true
	case bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return false, true
	}
	return false, false
}
