package node

import "github.com/rsml-go/rsml/internal/jsonscan"

// decodeTxnFast reads the body of POST /v1/txn without reflection: decoding
// with encoding/json took half of a leader's CPU under transactions of 100
// puts. It reads only the plain form of the request (exact field names, each
// at most once, no null, strings without escapes, decimal revs) and reports
// ok false for anything else, which the caller then decodes with
// encoding/json: that path, with its error messages, stays the definition.
// Whatever this accepts, encoding/json decodes to the same request
// (FuzzDecodeTxnFast checks it).
func decodeTxnFast(b []byte) (req txnRequest, ok bool) {
	p := txnParser{jsonscan.New(b)}
	if !p.Object(func(key []byte) bool {
		switch string(key) {
		case "if":
			if p.Peek('[') {
				req.If = []txnCompare{} // [] decodes to an empty, non-nil slice
			}
			return p.Array(func() bool {
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
	return req, p.Done()
}

// txnParser reads the fields of a transaction with a jsonscan.Scanner.
type txnParser struct{ *jsonscan.Scanner }

func (p *txnParser) ops(out *[]txnOp) bool {
	if p.Peek('[') {
		*out = []txnOp{} // [] decodes to an empty, non-nil slice
	}
	return p.Array(func() bool {
		var o txnOp
		if !p.Object(func(key []byte) bool {
			switch string(key) {
			case "op":
				s, ok := p.Str()
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
	return p.Object(func(key []byte) bool {
		switch string(key) {
		case "key":
			return p.strPtr(&c.Key)
		case "key_base64":
			return p.strPtr(&c.KeyBase64)
		case "rev":
			n, ok := p.Uint()
			c.Rev = &n
			return ok
		case "exists":
			switch {
			case p.Lit("true"):
				t := true
				c.Exists = &t
			case p.Lit("false"):
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
	s, ok := p.Str()
	*out = &s
	return ok
}
