package node

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"unicode/utf8"

	"github.com/rsml-go/rsml/kv"
)

// The JSON of POST /v1/txn and GET /v1/kv?prefix= (DESIGN.md §4.2). Keys and
// values travel as text when they are UTF-8 and as base64 otherwise; a request
// may use either form for each, never both.

type txnRequest struct {
	If   []txnCompare `json:"if"`
	Then []txnOp      `json:"then"`
	Else []txnOp      `json:"else"`
}

type txnCompare struct {
	Key       *string `json:"key"`
	KeyBase64 *string `json:"key_base64"`
	Rev       *uint64 `json:"rev"`
	Exists    *bool   `json:"exists"`
}

type txnOp struct {
	Op          string  `json:"op"`
	Key         *string `json:"key"`
	KeyBase64   *string `json:"key_base64"`
	Value       *string `json:"value"`
	ValueBase64 *string `json:"value_base64"`
}

type txnResponse struct {
	Rev       uint64 `json:"rev"`
	Succeeded bool   `json:"succeeded"`
	Results   []any  `json:"results"`
}

type putResultJSON struct {
	Rev uint64 `json:"rev"`
}

type deleteResultJSON struct {
	Rev     uint64 `json:"rev"`
	Deleted bool   `json:"deleted"`
}

// getResultJSON is {"found": false} or the value with its rev.
type getResultJSON struct {
	Found       bool    `json:"found"`
	Key         string  `json:"key,omitempty"`
	KeyBase64   string  `json:"key_base64,omitempty"`
	ValueBase64 *string `json:"value_base64,omitempty"`
	Value       *string `json:"value,omitempty"`
	Rev         uint64  `json:"rev,omitempty"`
}

type listResponse struct {
	Rev   uint64     `json:"rev"`
	Items []itemJSON `json:"items"`
	More  bool       `json:"more"`
}

type itemJSON struct {
	Key         string  `json:"key,omitempty"`
	KeyBase64   string  `json:"key_base64,omitempty"`
	ValueBase64 string  `json:"value_base64"`
	Value       *string `json:"value,omitempty"`
	Rev         uint64  `json:"rev"`
}

// badRequest is a request the API refuses before anything is proposed; code
// is the HTTP status (400 or 413).
type badRequest struct {
	code int
	msg  string
}

func (e *badRequest) Error() string { return e.msg }

func bad(format string, args ...any) error {
	return &badRequest{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// textOrBase64 reads a key or value given either as text or as base64.
func textOrBase64(what string, text, b64 *string) ([]byte, error) {
	switch {
	case text != nil && b64 != nil:
		return nil, bad("%s: give %s or %s_base64, not both", what, what, what)
	case text != nil:
		return []byte(*text), nil
	case b64 != nil:
		b, err := base64.StdEncoding.DecodeString(*b64)
		if err != nil {
			return nil, bad("%s_base64: %v", what, err)
		}
		return b, nil
	}
	return nil, nil
}

func (h *httpAPI) txnKey(where string, text, b64 *string) (string, error) {
	k, err := textOrBase64("key", text, b64)
	if err != nil {
		return "", bad("%s: %s", where, err)
	}
	if len(k) == 0 || len(k) > h.cfg.MaxKeyBytes {
		return "", bad("%s: key must be 1 to %d bytes, got %d", where, h.cfg.MaxKeyBytes, len(k))
	}
	return string(k), nil
}

// parseTxn turns the JSON body into a kv.Txn, checking everything the store
// would refuse, so that a bad request is a 400 and nothing is proposed.
func (h *httpAPI) parseTxn(body []byte) (kv.Txn, error) {
	req, ok := decodeTxnFast(body)
	if !ok {
		var err error
		if req, err = decodeTxn(body); err != nil {
			return kv.Txn{}, err
		}
	}
	if len(req.If) > kv.MaxTxnCompares {
		return kv.Txn{}, bad("%d conditions, at most %d", len(req.If), kv.MaxTxnCompares)
	}
	var t kv.Txn
	for i, c := range req.If {
		where := fmt.Sprintf("if[%d]", i)
		key, err := h.txnKey(where, c.Key, c.KeyBase64)
		if err != nil {
			return kv.Txn{}, err
		}
		var cond kv.Cond
		switch {
		case c.Rev != nil && c.Exists != nil, c.Rev == nil && c.Exists == nil:
			return kv.Txn{}, bad(`%s: a condition has exactly one of "rev" and "exists"`, where)
		case c.Rev != nil:
			cond = kv.IfRev(*c.Rev)
		case *c.Exists:
			cond = kv.IfExists()
		default:
			cond = kv.IfAbsent()
		}
		t.If = append(t.If, kv.Compare{Key: key, Cond: cond})
	}
	var err error
	if t.Then, err = h.parseOps("then", req.Then); err != nil {
		return kv.Txn{}, err
	}
	if t.Else, err = h.parseOps("else", req.Else); err != nil {
		return kv.Txn{}, err
	}
	if err := t.Validate(); err != nil {
		return kv.Txn{}, bad("%v", err)
	}
	return t, nil
}

// decodeTxn decodes a transaction's body with encoding/json: the
// definition of what a body means, and of the errors a bad one gets.
func decodeTxn(body []byte) (txnRequest, error) {
	var req txnRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return txnRequest{}, bad("malformed transaction: %v", err)
	}
	if dec.More() {
		return txnRequest{}, bad("malformed transaction: data after the JSON object")
	}
	return req, nil
}

func (h *httpAPI) parseOps(branch string, in []txnOp) ([]kv.Op, error) {
	if len(in) > kv.MaxTxnOps {
		return nil, bad("%s: %d operations, at most %d", branch, len(in), kv.MaxTxnOps)
	}
	ops := make([]kv.Op, 0, len(in))
	for i, o := range in {
		where := fmt.Sprintf("%s[%d]", branch, i)
		key, err := h.txnKey(where, o.Key, o.KeyBase64)
		if err != nil {
			return nil, err
		}
		value, err := textOrBase64("value", o.Value, o.ValueBase64)
		if err != nil {
			return nil, bad("%s: %s", where, err)
		}
		switch o.Op {
		case "put":
			if value == nil {
				return nil, bad(`%s: a put needs "value" or "value_base64"`, where)
			}
			if len(value) > h.cfg.MaxValueBytes {
				return nil, &badRequest{code: http.StatusRequestEntityTooLarge,
					msg: fmt.Sprintf("%s: value of %d bytes exceeds the limit of %d", where, len(value), h.cfg.MaxValueBytes)}
			}
			ops = append(ops, kv.PutOp(key, value))
		case "delete", "get":
			if value != nil {
				return nil, bad("%s: a %s has no value", where, o.Op)
			}
			if o.Op == "get" {
				ops = append(ops, kv.GetOp(key))
			} else {
				ops = append(ops, kv.DeleteOp(key))
			}
		default:
			return nil, bad(`%s: "op" must be put, delete or get, not %q`, where, o.Op)
		}
	}
	return ops, nil
}

func (h *httpAPI) txn(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, "transaction", h.cfg.MaxTxnBytes)
	if !ok {
		return
	}
	t, err := h.parseTxn(body)
	if err != nil {
		var br *badRequest
		if errors.As(err, &br) && br.code == http.StatusRequestEntityTooLarge {
			writeError(w, br.code, "too_large", br.msg)
		} else {
			writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		}
		return
	}
	if !t.ReadOnly() && !h.mayWrite(r) {
		h.n.logger.Debug("HTTP request refused: a writing transaction from a read role", "remote", r.RemoteAddr)
		writeError(w, http.StatusForbidden, "forbidden", "role read may not run a transaction that writes (needs write)")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	res, err := h.n.Txn(ctx, t)
	switch {
	case errors.Is(err, kv.ErrBadCommand):
		writeError(w, http.StatusBadRequest, "bad_request", err.Error())
		return
	case err != nil:
		h.fail(w, err, !t.ReadOnly())
		return
	}
	ops := t.Else
	if res.Succeeded {
		ops = t.Then
	}
	if len(ops) != len(res.Results) {
		h.fail(w, fmt.Errorf("the store answered %d results for %d operations", len(res.Results), len(ops)), true)
		return
	}
	out := txnResponse{Rev: res.Rev, Succeeded: res.Succeeded, Results: make([]any, len(res.Results))}
	for i, o := range res.Results {
		switch o.Kind {
		case kv.OpPut:
			out.Results[i] = putResultJSON{Rev: o.Rev}
		case kv.OpDelete:
			out.Results[i] = deleteResultJSON{Rev: o.Rev, Deleted: o.Deleted}
		default:
			g := getResultJSON{Found: o.Found}
			g.Key, g.KeyBase64 = keyJSON(ops[i].Key)
			if o.Found {
				b64 := base64.StdEncoding.EncodeToString(o.Value)
				g.ValueBase64, g.Value, g.Rev = &b64, utf8Text(o.Value), o.Rev
			}
			out.Results[i] = g
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// utf8Text returns b as a string when it is valid UTF-8, for the "value"
// field next to "value_base64"; nil otherwise.
func utf8Text(b []byte) *string {
	if !utf8.Valid(b) {
		return nil
	}
	s := string(b)
	return &s
}

// keyJSON gives a key as "key" when it is UTF-8, else as "key_base64".
func keyJSON(k string) (text, b64 string) {
	if utf8.ValidString(k) {
		return k, ""
	}
	return "", base64.StdEncoding.EncodeToString([]byte(k))
}

func (h *httpAPI) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := kv.ListRequest{Prefix: q.Get("prefix"), StartAfter: q.Get("start_after"), Limit: kv.DefaultListLimit}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > kv.MaxListLimit {
			writeError(w, http.StatusBadRequest, "bad_request",
				fmt.Sprintf("limit must be 1 to %d, not %q", kv.MaxListLimit, l))
			return
		}
		req.Limit = n
	}
	list := h.n.List
	switch c := q.Get("consistency"); c {
	case "", "linearizable":
	case "stale":
		list = h.n.StaleList
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "consistency must be linearizable or stale, not "+strconv.Quote(c))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	res, err := list(ctx, req)
	if err != nil {
		h.fail(w, err, false)
		return
	}
	out := listResponse{Rev: res.Rev, More: res.More, Items: make([]itemJSON, len(res.Items))}
	for i, it := range res.Items {
		j := itemJSON{ValueBase64: base64.StdEncoding.EncodeToString(it.Value), Value: utf8Text(it.Value), Rev: it.Rev}
		j.Key, j.KeyBase64 = keyJSON(it.Key)
		out.Items[i] = j
	}
	writeJSON(w, http.StatusOK, out)
}
