package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"unicode/utf8"
)

// Op is one operation of a transaction; build it with PutOp, DeleteOp or
// GetOp.
type Op struct {
	kind  string
	key   string
	value []byte
}

// PutOp sets key to value inside a transaction.
func PutOp(key string, value []byte) Op {
	if value == nil {
		value = []byte{}
	}
	return Op{kind: "put", key: key, value: value}
}

// DeleteOp removes key inside a transaction.
func DeleteOp(key string) Op { return Op{kind: "delete", key: key} }

// GetOp reads key inside a transaction; it sees the operations before it.
func GetOp(key string) Op { return Op{kind: "get", key: key} }

// Compare is a condition of a transaction: Cond (IfRev, IfExists or IfAbsent)
// must hold on Key.
type Compare struct {
	Key  string
	Cond Cond
}

// Txn is a transaction (POST /v1/txn): if every condition holds, Then runs,
// else Else runs, atomically, as one command at one rev. A transaction
// without puts or deletes is a linearizable read and takes no rev.
type Txn struct {
	If   []Compare
	Then []Op
	Else []Op
}

// ReadOnly reports whether neither branch writes; the client then retries it
// as freely as a read.
func (t Txn) ReadOnly() bool {
	for _, ops := range [2][]Op{t.Then, t.Else} {
		for _, o := range ops {
			if o.kind != "get" {
				return false
			}
		}
	}
	return true
}

// TxnResult is a transaction's outcome.
type TxnResult struct {
	// Rev is the transaction's rev, or for a read-only one the store's last
	// rev when it was read.
	Rev uint64
	// Succeeded says that every condition held and Then ran.
	Succeeded bool
	// Results has one entry per operation of the branch that ran.
	Results []OpResult
}

// OpResult is one operation's outcome. A put or delete has Rev (the
// transaction's); a delete says whether the key existed; a get says whether
// it found the key, and then its Value and Rev.
type OpResult struct {
	Rev     uint64
	Deleted bool
	Found   bool
	Value   []byte
}

type txnJSON struct {
	If   []compareJSON `json:"if,omitempty"`
	Then []opJSON      `json:"then,omitempty"`
	Else []opJSON      `json:"else,omitempty"`
}

type compareJSON struct {
	Key       string  `json:"key,omitempty"`
	KeyBase64 string  `json:"key_base64,omitempty"`
	Rev       *uint64 `json:"rev,omitempty"`
	Exists    *bool   `json:"exists,omitempty"`
}

type opJSON struct {
	Op          string  `json:"op"`
	Key         string  `json:"key,omitempty"`
	KeyBase64   string  `json:"key_base64,omitempty"`
	Value       *string `json:"value,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
}

// keyFields puts a key in "key" when it is UTF-8 (JSON strings are), else
// in "key_base64".
func keyFields(k string) (text, b64 string) {
	if utf8.ValidString(k) {
		return k, ""
	}
	return "", base64.StdEncoding.EncodeToString([]byte(k))
}

// MarshalJSON writes the transaction as the body of POST /v1/txn.
func (t Txn) MarshalJSON() ([]byte, error) {
	out, err := t.toJSON()
	if err != nil {
		return nil, err
	}
	return appendTxnJSON(make([]byte, 0, 64+txnSize(&out)), &out), nil
}

// toJSON is the transaction in the shape of its JSON.
func (t Txn) toJSON() (txnJSON, error) {
	var out txnJSON
	for _, c := range t.If {
		var cj compareJSON
		cj.Key, cj.KeyBase64 = keyFields(c.Key)
		switch c.Cond.kind {
		case condRev:
			rev := c.Cond.rev
			cj.Rev = &rev
		case condExists, condAbsent:
			exists := c.Cond.kind == condExists
			cj.Exists = &exists
		default:
			return txnJSON{}, fmt.Errorf("%w: condition on %q has no condition", ErrBadRequest, c.Key)
		}
		out.If = append(out.If, cj)
	}
	for _, b := range [2]struct {
		ops []Op
		dst *[]opJSON
	}{{t.Then, &out.Then}, {t.Else, &out.Else}} {
		for _, o := range b.ops {
			if o.kind == "" {
				return txnJSON{}, fmt.Errorf("%w: an Op must be made by PutOp, DeleteOp or GetOp", ErrBadRequest)
			}
			oj := opJSON{Op: o.kind}
			oj.Key, oj.KeyBase64 = keyFields(o.key)
			if o.kind == "put" {
				if utf8.Valid(o.value) {
					s := string(o.value)
					oj.Value = &s
				} else {
					s := base64.StdEncoding.EncodeToString(o.value)
					oj.ValueBase64 = &s
				}
			}
			*b.dst = append(*b.dst, oj)
		}
	}
	return out, nil
}

// txnSize estimates the JSON of out, to size its buffer once.
func txnSize(out *txnJSON) int {
	n := 0
	for _, ops := range [2][]opJSON{out.Then, out.Else} {
		for i := range ops {
			o := &ops[i]
			n += 48 + len(o.Key) + len(o.KeyBase64)
			if o.Value != nil {
				n += len(*o.Value) + 12
			}
			if o.ValueBase64 != nil {
				n += len(*o.ValueBase64) + 20
			}
		}
	}
	return n + 64*len(out.If)
}

// appendTxnJSON writes out as encoding/json would read it back (the same
// fields, omitempty alike), without reflection: encoding/json's Marshal was
// a quarter of a client's CPU under transactions of 100 puts.
// TestTxnJSONRoundTrips holds it to encoding/json.
func appendTxnJSON(b []byte, out *txnJSON) []byte {
	b = append(b, '{')
	sep := false
	field := func(name string) {
		if sep {
			b = append(b, ',')
		}
		sep = true
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	if len(out.If) > 0 {
		field("if")
		b = append(b, '[')
		for i := range out.If {
			c := &out.If[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			inner := false
			sub := func(name string) {
				if inner {
					b = append(b, ',')
				}
				inner = true
				b = append(b, '"')
				b = append(b, name...)
				b = append(b, '"', ':')
			}
			if c.Key != "" {
				sub("key")
				b = appendJSONString(b, c.Key)
			}
			if c.KeyBase64 != "" {
				sub("key_base64")
				b = appendJSONString(b, c.KeyBase64)
			}
			if c.Rev != nil {
				sub("rev")
				b = strconv.AppendUint(b, *c.Rev, 10)
			}
			if c.Exists != nil {
				sub("exists")
				b = strconv.AppendBool(b, *c.Exists)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	for _, branch := range [2]struct {
		name string
		ops  []opJSON
	}{{"then", out.Then}, {"else", out.Else}} {
		if len(branch.ops) == 0 {
			continue
		}
		field(branch.name)
		b = append(b, '[')
		for i := range branch.ops {
			o := &branch.ops[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"op":`...)
			b = appendJSONString(b, o.Op)
			if o.Key != "" {
				b = append(b, `,"key":`...)
				b = appendJSONString(b, o.Key)
			}
			if o.KeyBase64 != "" {
				b = append(b, `,"key_base64":`...)
				b = appendJSONString(b, o.KeyBase64)
			}
			if o.Value != nil {
				b = append(b, `,"value":`...)
				b = appendJSONString(b, *o.Value)
			}
			if o.ValueBase64 != nil {
				b = append(b, `,"value_base64":`...)
				b = appendJSONString(b, *o.ValueBase64)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSONString writes s, valid UTF-8, as a JSON string: quotes,
// backslashes and control characters escaped, everything else as is (so
// that the server reads the common case without unescaping).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

type txnReplyJSON struct {
	Rev       *uint64         `json:"rev"`
	Succeeded bool            `json:"succeeded"`
	Results   []txnResultJSON `json:"results"`
}

type txnResultJSON struct {
	Rev         uint64  `json:"rev"`
	Deleted     bool    `json:"deleted"`
	Found       bool    `json:"found"`
	ValueBase64 *string `json:"value_base64"`
}

// Txn runs a transaction. One that writes is never retried once it may have
// reached a server (ErrIndeterminate then); a read-only one is retried like a
// read. A transaction whose conditions failed is not an error: its Else ran.
func (c *Client) Txn(ctx context.Context, t Txn) (TxnResult, error) {
	body, err := t.MarshalJSON()
	if err != nil {
		return TxnResult{}, fmt.Errorf("txn: %w", err)
	}
	rep, err := c.do(ctx, &call{op: "txn", method: http.MethodPost, path: "/v1/txn",
		header: http.Header{"Content-Type": {"application/json"}}, body: body, write: !t.ReadOnly()})
	if err != nil {
		return TxnResult{}, err
	}
	r, ok := decodeTxnReplyFast(rep.body)
	if !ok || r.Rev == nil {
		r = txnReplyJSON{}
		err = decodeWrite(rep.body, &r, func() bool { return r.Rev == nil })
	}
	if err != nil {
		if t.ReadOnly() {
			return TxnResult{}, fmt.Errorf("txn: answer %q: %w", rep.body, err)
		}
		return TxnResult{}, fmt.Errorf("txn: %w", err)
	}
	res := TxnResult{Rev: *r.Rev, Succeeded: r.Succeeded, Results: make([]OpResult, len(r.Results))}
	for i, o := range r.Results {
		res.Results[i] = OpResult{Rev: o.Rev, Deleted: o.Deleted, Found: o.Found}
		if o.Found {
			if o.ValueBase64 == nil {
				return TxnResult{}, fmt.Errorf("txn: result %d found a key but carries no value_base64", i)
			}
			v, err := base64.StdEncoding.DecodeString(*o.ValueBase64)
			if err != nil {
				return TxnResult{}, fmt.Errorf("txn: result %d: value_base64: %w", i, err)
			}
			res.Results[i].Value = v
		}
	}
	return res, nil
}

// ListOptions pages and tunes a listing.
type ListOptions struct {
	// StartAfter lists only keys after it: the last key of the previous page.
	StartAfter string
	// Limit is the page size, 1 to 10000 (0: the server's default, 1000).
	Limit int
	// Stale reads the answering replica's local copy.
	Stale bool
}

// Item is one key of a listing.
type Item struct {
	Key   string
	Value []byte
	Rev   uint64
}

// ListPage is one page of a listing.
type ListPage struct {
	Rev   uint64 // the store's last rev when the page was read
	Items []Item // keys in byte order
	More  bool   // keys with the prefix follow: ask again after the last item
}

// List returns the keys that start with prefix, a page at a time,
// linearizably unless o.Stale.
func (c *Client) List(ctx context.Context, prefix string, o ListOptions) (ListPage, error) {
	q := url.Values{}
	q.Set("prefix", prefix)
	if o.StartAfter != "" {
		q.Set("start_after", o.StartAfter)
	}
	if o.Limit != 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Stale {
		q.Set("consistency", "stale")
	}
	rep, err := c.do(ctx, &call{op: "list", key: prefix, method: http.MethodGet, path: "/v1/kv?" + q.Encode()})
	if err != nil {
		return ListPage{}, err
	}
	var r struct {
		Rev   *uint64 `json:"rev"`
		More  bool    `json:"more"`
		Items []struct {
			Key         *string `json:"key"`
			KeyBase64   *string `json:"key_base64"`
			ValueBase64 string  `json:"value_base64"`
			Rev         uint64  `json:"rev"`
		} `json:"items"`
	}
	if err := json.Unmarshal(rep.body, &r); err != nil || r.Rev == nil {
		return ListPage{}, fmt.Errorf("list %q: answer %q is not a listing: %v", prefix, rep.body, err)
	}
	page := ListPage{Rev: *r.Rev, More: r.More, Items: make([]Item, len(r.Items))}
	for i, it := range r.Items {
		var key string
		switch {
		case it.Key != nil:
			key = *it.Key
		case it.KeyBase64 != nil:
			b, err := base64.StdEncoding.DecodeString(*it.KeyBase64)
			if err != nil {
				return ListPage{}, fmt.Errorf("list %q: item %d: key_base64: %w", prefix, i, err)
			}
			key = string(b)
		default:
			return ListPage{}, fmt.Errorf("list %q: item %d has no key", prefix, i)
		}
		v, err := base64.StdEncoding.DecodeString(it.ValueBase64)
		if err != nil {
			return ListPage{}, fmt.Errorf("list %q: item %d: value_base64: %w", prefix, i, err)
		}
		page.Items[i] = Item{Key: key, Value: v, Rev: it.Rev}
	}
	return page, nil
}
