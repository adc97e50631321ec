package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"

	"github.com/rsml-go/rsml/client"
	"github.com/rsml-go/rsml/kv"
)

// The JSON that rsml-node kv txn reads and the JSON that kv txn and kv list
// print: the shapes of POST /v1/txn and GET /v1/kv?prefix= (DESIGN.md §4.2).
//
// The command parses the transaction itself rather than posting the file as
// it is: client.Txn decides from the operations whether the transaction may
// be retried (a write never is once it may have reached a server), and a
// malformed file is refused before anything is sent, with the place named
// ("then[2]: ...") so that a long file can be fixed without guessing.

// txnSpec is a parsed transaction. It keeps the operations in a form the
// command can read back (client.Op hides its fields): the printed results
// need each get's key.
type txnSpec struct {
	ifs       []client.Compare
	then, els []txnOpSpec
}

// txnOpSpec is one operation: kind is "put", "delete" or "get".
type txnOpSpec struct {
	kind  string
	key   string
	value []byte // put only
}

// txn is the transaction to send.
func (s txnSpec) txn() client.Txn {
	t := client.Txn{If: s.ifs}
	for _, b := range [2]struct {
		in  []txnOpSpec
		out *[]client.Op
	}{{s.then, &t.Then}, {s.els, &t.Else}} {
		for _, o := range b.in {
			switch o.kind {
			case "put":
				*b.out = append(*b.out, client.PutOp(o.key, o.value))
			case "delete":
				*b.out = append(*b.out, client.DeleteOp(o.key))
			default:
				*b.out = append(*b.out, client.GetOp(o.key))
			}
		}
	}
	return t
}

// branch returns the operations of the branch that ran.
func (s txnSpec) branch(succeeded bool) []txnOpSpec {
	if succeeded {
		return s.then
	}
	return s.els
}

// The request's JSON. Pointers tell a missing field from a zero one, as the
// server's do.
type (
	txnInJSON struct {
		If   []json.RawMessage `json:"if"`
		Then []json.RawMessage `json:"then"`
		Else []json.RawMessage `json:"else"`
	}
	txnCompareInJSON struct {
		Key       *string `json:"key"`
		KeyBase64 *string `json:"key_base64"`
		Rev       *uint64 `json:"rev"`
		Exists    *bool   `json:"exists"`
	}
	txnOpInJSON struct {
		Op          *string `json:"op"`
		Key         *string `json:"key"`
		KeyBase64   *string `json:"key_base64"`
		Value       *string `json:"value"`
		ValueBase64 *string `json:"value_base64"`
	}
)

// parseTxnJSON parses a POST /v1/txn body, refusing what the server would
// refuse as malformed (400) and naming where: "if[0]", "then[2]". Limits
// the server may configure (key and value sizes) are left to it.
func parseTxnJSON(data []byte) (txnSpec, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return txnSpec{}, errors.New(`empty input: want a JSON object such as {"then": [{"op": "put", "key": "k", "value": "v"}]}`)
	}
	if trimmed[0] != '{' {
		return txnSpec{}, fmt.Errorf("want a JSON object with \"if\", \"then\" and \"else\", got %s", txnJSONKind(trimmed[0]))
	}
	var in txnInJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return txnSpec{}, txnJSONError(data, err)
	}
	end := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		off := end + len(data[end:]) - len(bytes.TrimLeft(data[end:], " \t\r\n"))
		return txnSpec{}, fmt.Errorf("%s: data after the JSON object", txnPosition(data, off+1))
	}
	if len(in.If) > kv.MaxTxnCompares {
		return txnSpec{}, fmt.Errorf("if: %d conditions, at most %d", len(in.If), kv.MaxTxnCompares)
	}
	var s txnSpec
	for i, raw := range in.If {
		c, err := parseTxnCompare(raw)
		if err != nil {
			return txnSpec{}, fmt.Errorf("if[%d]: %w", i, err)
		}
		s.ifs = append(s.ifs, c)
	}
	var err error
	if s.then, err = parseTxnOps("then", in.Then); err != nil {
		return txnSpec{}, err
	}
	if s.els, err = parseTxnOps("else", in.Else); err != nil {
		return txnSpec{}, err
	}
	return s, nil
}

func parseTxnCompare(raw json.RawMessage) (client.Compare, error) {
	var c txnCompareInJSON
	if err := txnDecodeStrict(raw, &c); err != nil {
		return client.Compare{}, err
	}
	key, err := txnKey(c.Key, c.KeyBase64)
	if err != nil {
		return client.Compare{}, err
	}
	switch {
	case (c.Rev == nil) == (c.Exists == nil):
		return client.Compare{}, errors.New(`a condition has exactly one of "rev" and "exists"`)
	case c.Rev != nil:
		return client.Compare{Key: key, Cond: client.IfRev(*c.Rev)}, nil
	case *c.Exists:
		return client.Compare{Key: key, Cond: client.IfExists()}, nil
	}
	return client.Compare{Key: key, Cond: client.IfAbsent()}, nil
}

func parseTxnOps(branch string, in []json.RawMessage) ([]txnOpSpec, error) {
	if len(in) > kv.MaxTxnOps {
		return nil, fmt.Errorf("%s: %d operations, at most %d", branch, len(in), kv.MaxTxnOps)
	}
	var ops []txnOpSpec
	for i, raw := range in {
		o, err := parseTxnOp(raw)
		if err != nil {
			return nil, fmt.Errorf("%s[%d]: %w", branch, i, err)
		}
		ops = append(ops, o)
	}
	return ops, nil
}

func parseTxnOp(raw json.RawMessage) (txnOpSpec, error) {
	var o txnOpInJSON
	if err := txnDecodeStrict(raw, &o); err != nil {
		return txnOpSpec{}, err
	}
	switch {
	case o.Op == nil:
		return txnOpSpec{}, errors.New(`missing "op": want put, delete or get`)
	case *o.Op != "put" && *o.Op != "delete" && *o.Op != "get":
		return txnOpSpec{}, fmt.Errorf(`"op" must be put, delete or get, not %q`, *o.Op)
	}
	key, err := txnKey(o.Key, o.KeyBase64)
	if err != nil {
		return txnOpSpec{}, err
	}
	value, err := txnTextOrBase64("value", o.Value, o.ValueBase64)
	if err != nil {
		return txnOpSpec{}, err
	}
	switch {
	case *o.Op == "put" && value == nil:
		return txnOpSpec{}, errors.New(`a put needs "value" or "value_base64"`)
	case *o.Op != "put" && value != nil:
		return txnOpSpec{}, fmt.Errorf("a %s has no value", *o.Op)
	}
	return txnOpSpec{kind: *o.Op, key: key, value: value}, nil
}

func txnKey(text, b64 *string) (string, error) {
	k, err := txnTextOrBase64("key", text, b64)
	switch {
	case err != nil:
		return "", err
	case k == nil:
		return "", errors.New(`missing "key" (or "key_base64" for a binary key)`)
	case len(k) == 0:
		return "", errors.New("empty key: a key has 1 to 1024 bytes")
	}
	return string(k), nil
}

// txnTextOrBase64 reads a key or value given as text or as base64, never both;
// nil means neither was given.
func txnTextOrBase64(what string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, fmt.Errorf(`give %q or "%s_base64", not both`, what, what)
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, fmt.Errorf(`"%s_base64": %v`, what, err)
		}
		return b, nil
	}
	return nil, nil
}

// txnDecodeStrict decodes one condition or operation, refusing unknown fields
// (a misspelt "vaule" must not turn a put into an error at the server, or
// worse, a field silently ignored).
func txnDecodeStrict(raw json.RawMessage, v any) error {
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return errors.New("want an object, got null")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return txnJSONError(raw, err)
	}
	return nil
}

// txnJSONError rewords encoding/json's errors for someone editing the file:
// where (line and column) and what was expected, without Go type names.
func txnJSONError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%s: %s", txnPosition(data, int(syn.Offset)), syn.Error())
	case errors.As(err, &typ):
		want := map[reflect.Kind]string{reflect.String: "a string", reflect.Uint64: "a rev (an integer, 0 or more)",
			reflect.Bool: "true or false", reflect.Slice: "an array", reflect.Struct: "an object"}[typ.Type.Kind()]
		if want == "" {
			want = typ.Type.String()
		}
		if typ.Field == "" {
			return fmt.Errorf("want %s, got %s", want, typ.Value)
		}
		return fmt.Errorf("%q: want %s, got %s", typ.Field, want, typ.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("unexpected end of input: the JSON is cut short")
	}
	return errors.New(strings.TrimPrefix(err.Error(), "json: "))
}

// txnPosition gives the line and column of the byte at offset-1 (encoding/json
// reports the offset after the byte it stopped at).
func txnPosition(data []byte, offset int) string {
	offset = max(0, min(offset-1, len(data)))
	before := data[:offset]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return fmt.Sprintf("line %d, column %d", line, col)
}

func txnJSONKind(b byte) string {
	switch {
	case b == '[':
		return "an array"
	case b == '"':
		return "a string"
	case b == 'n':
		return "null"
	case b == 't' || b == 'f':
		return "a boolean"
	case b == '-' || (b >= '0' && b <= '9'):
		return "a number"
	}
	return fmt.Sprintf("%q", b)
}

// The printed JSON: the server's shapes, so that -o json output and a curl
// of the API can be read by the same script.
type (
	txnOutJSON struct {
		Rev       uint64 `json:"rev"`
		Succeeded bool   `json:"succeeded"`
		Results   []any  `json:"results"`
	}
	putOutJSON struct {
		Rev uint64 `json:"rev"`
	}
	deleteOutJSON struct {
		Rev     uint64 `json:"rev"`
		Deleted bool   `json:"deleted"`
	}
	getOutJSON struct {
		Found       bool    `json:"found"`
		Key         string  `json:"key,omitempty"`
		KeyBase64   string  `json:"key_base64,omitempty"`
		ValueBase64 *string `json:"value_base64,omitempty"`
		Value       *string `json:"value,omitempty"`
		Rev         uint64  `json:"rev,omitempty"`
	}
	listOutJSON struct {
		Rev   uint64        `json:"rev"`
		Items []itemOutJSON `json:"items"`
		More  bool          `json:"more"`
	}
	itemOutJSON struct {
		Key         string  `json:"key,omitempty"`
		KeyBase64   string  `json:"key_base64,omitempty"`
		ValueBase64 string  `json:"value_base64"`
		Value       *string `json:"value,omitempty"`
		Rev         uint64  `json:"rev"`
	}
)

// txnOut is res as POST /v1/txn answers it; ops are the branch that ran.
func txnOut(res client.TxnResult, ops []txnOpSpec) txnOutJSON {
	out := txnOutJSON{Rev: res.Rev, Succeeded: res.Succeeded, Results: make([]any, len(res.Results))}
	for i, r := range res.Results {
		switch ops[i].kind {
		case "put":
			out.Results[i] = putOutJSON{r.Rev}
		case "delete":
			out.Results[i] = deleteOutJSON{r.Rev, r.Deleted}
		default:
			g := getOutJSON{Found: r.Found}
			g.Key, g.KeyBase64 = cliKeyOut(ops[i].key)
			if r.Found {
				b64 := base64.StdEncoding.EncodeToString(r.Value)
				g.ValueBase64, g.Value, g.Rev = &b64, cliTextOut(r.Value), r.Rev
			}
			out.Results[i] = g
		}
	}
	return out
}

// listItemOut is it as GET /v1/kv?prefix= lists it.
func listItemOut(it client.Item) itemOutJSON {
	j := itemOutJSON{ValueBase64: base64.StdEncoding.EncodeToString(it.Value), Value: cliTextOut(it.Value), Rev: it.Rev}
	j.Key, j.KeyBase64 = cliKeyOut(it.Key)
	return j
}

// cliKeyOut gives a key as "key" when it is UTF-8 (JSON strings are), else as
// "key_base64".
func cliKeyOut(k string) (text, b64 string) {
	if utf8.ValidString(k) {
		return k, ""
	}
	return "", base64.StdEncoding.EncodeToString([]byte(k))
}

// cliTextOut is the "value" field: the value when it is UTF-8, else absent.
func cliTextOut(b []byte) *string {
	if !utf8.Valid(b) {
		return nil
	}
	s := string(b)
	return &s
}
