package client

import "github.com/rsml-go/rsml/internal/jsonscan"

// decodeTxnReplyFast reads the answer to a transaction of puts and deletes
// without reflection: encoding/json's Unmarshal was a sixth of a client's
// CPU under transactions of 100 puts. It takes only what such an answer
// holds (rev, succeeded, results of rev and deleted; exact names, each
// once; decimal numbers) and reports ok false for anything else, which the
// caller then decodes with encoding/json (gets, with their values, always
// go that way). FuzzTxnReplyFast holds it to encoding/json.
func decodeTxnReplyFast(b []byte) (r txnReplyJSON, ok bool) {
	p := jsonscan.New(b)
	if !p.Object(func(key []byte) bool {
		switch string(key) {
		case "rev":
			n, ok := p.Uint()
			r.Rev = &n
			return ok
		case "succeeded":
			v, ok := scanBool(p)
			r.Succeeded = v
			return ok
		case "results":
			if !p.Next('[') {
				return false
			}
			r.Results = []txnResultJSON{} // [] decodes to an empty, non-nil slice
			if p.Next(']') {
				return true
			}
			for {
				var res txnResultJSON
				if !p.Object(func(key []byte) bool {
					var ok bool
					switch string(key) {
					case "rev":
						res.Rev, ok = p.Uint()
					case "deleted":
						res.Deleted, ok = scanBool(p)
					}
					return ok
				}) {
					return false
				}
				r.Results = append(r.Results, res)
				if p.Next(']') {
					return true
				}
				if !p.Next(',') {
					return false
				}
			}
		}
		return false
	}) {
		return txnReplyJSON{}, false
	}
	return r, p.Done()
}

// scanBool reads true or false.
func scanBool(p *jsonscan.Scanner) (bool, bool) {
	switch {
	case p.Lit("true"):
		return true, true
	case p.Lit("false"):
		return false, true
	}
	return false, false
}
