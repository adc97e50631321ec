package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Cond is a write's condition. The zero Cond is none: the write always
// applies.
type Cond struct {
	kind condKind
	rev  uint64
}

type condKind uint8

const (
	condNone condKind = iota
	condRev
	condExists
	condAbsent
)

// IfRev holds when the key exists and was last set by rev (If-Match: "rev").
func IfRev(rev uint64) Cond { return Cond{kind: condRev, rev: rev} }

// IfExists holds when the key exists (If-Match: *).
func IfExists() Cond { return Cond{kind: condExists} }

// IfAbsent holds when the key is absent (If-None-Match: *).
func IfAbsent() Cond { return Cond{kind: condAbsent} }

// String shows c as its HTTP header.
func (c Cond) String() string {
	switch c.kind {
	case condRev:
		return `If-Match: "` + strconv.FormatUint(c.rev, 10) + `"`
	case condExists:
		return "If-Match: *"
	case condAbsent:
		return "If-None-Match: *"
	}
	return "none"
}

func (c Cond) header() http.Header {
	switch c.kind {
	case condRev:
		return http.Header{"If-Match": {`"` + strconv.FormatUint(c.rev, 10) + `"`}}
	case condExists:
		return http.Header{"If-Match": {"*"}}
	case condAbsent:
		return http.Header{"If-None-Match": {"*"}}
	}
	return nil
}

// ReadOption changes how Get reads.
type ReadOption func(*readOptions)

type readOptions struct{ stale bool }

// Stale reads the answering replica's local copy (?consistency=stale):
// faster, but it may miss recent writes.
func Stale() ReadOption { return func(o *readOptions) { o.stale = true } }

// keyPath is the escaped path of key. url.PathEscape escapes "/" (the server
// takes a%2Fb and a/b as the same key); a key that is a dot segment is
// escaped too, so that nothing on the way can resolve it as a path.
func keyPath(key string) string {
	esc := url.PathEscape(key)
	if esc == "." || esc == ".." {
		esc = strings.ReplaceAll(esc, ".", "%2E")
	}
	return "/v1/kv/" + esc
}

var errEmptyKey = fmt.Errorf("%w: empty key", ErrBadRequest)

// Get reads key: its value and rev (the rev of the write that set it).
// Linearizable unless Stale is given. A missing key is ErrNotFound.
func (c *Client) Get(ctx context.Context, key string, opts ...ReadOption) (value []byte, rev uint64, err error) {
	var o readOptions
	for _, opt := range opts {
		opt(&o)
	}
	if key == "" {
		return nil, 0, fmt.Errorf("get %q: %w", key, errEmptyKey)
	}
	path := keyPath(key)
	if o.stale {
		path += "?consistency=stale"
	}
	rep, err := c.do(ctx, &call{op: "get", key: key, method: http.MethodGet, path: path})
	if err != nil {
		return nil, 0, err
	}
	rev, err = parseETag(rep.header.Get("ETag"))
	if err != nil {
		return nil, 0, fmt.Errorf("get %q: %w", key, err)
	}
	return rep.body, rev, nil
}

// parseETag reads a rev from an ETag such as "12" (quotes optional, W/
// ignored).
func parseETag(v string) (uint64, error) {
	s := strings.TrimPrefix(strings.TrimSpace(v), "W/")
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	rev, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("bad ETag %q in the answer: want a quoted rev such as \"12\"", v)
	}
	return rev, nil
}

// Put sets key to value if c holds, and returns the write's rev. A failed
// condition is ErrConditionFailed. A write whose outcome is unknown is
// ErrIndeterminate; it is never retried.
func (c *Client) Put(ctx context.Context, key string, value []byte, cond Cond) (rev uint64, err error) {
	if key == "" {
		return 0, fmt.Errorf("put %q: %w", key, errEmptyKey)
	}
	if value == nil {
		value = []byte{}
	}
	rep, err := c.do(ctx, &call{op: "put", key: key, method: http.MethodPut, path: keyPath(key),
		header: cond.header(), body: value, write: true})
	if err != nil {
		return 0, err
	}
	var res struct {
		Rev *uint64 `json:"rev"`
	}
	if err := decodeWrite(rep.body, &res, func() bool { return res.Rev == nil }); err != nil {
		return 0, fmt.Errorf("put %q: %w", key, err)
	}
	return *res.Rev, nil
}

// Delete removes key if c holds. It returns the write's rev and whether the
// key existed; deleting an absent key is a write too, with its own rev.
func (c *Client) Delete(ctx context.Context, key string, cond Cond) (rev uint64, deleted bool, err error) {
	if key == "" {
		return 0, false, fmt.Errorf("delete %q: %w", key, errEmptyKey)
	}
	rep, err := c.do(ctx, &call{op: "delete", key: key, method: http.MethodDelete, path: keyPath(key),
		header: cond.header(), write: true})
	if err != nil {
		return 0, false, err
	}
	var res struct {
		Rev     *uint64 `json:"rev"`
		Deleted bool    `json:"deleted"`
	}
	if err := decodeWrite(rep.body, &res, func() bool { return res.Rev == nil }); err != nil {
		return 0, false, fmt.Errorf("delete %q: %w", key, err)
	}
	return *res.Rev, res.Deleted, nil
}

// decodeWrite decodes a 200 answer to a write into v; the write was applied,
// so an error here must not be taken for a failed write.
func decodeWrite(body []byte, v any, noRev func() bool) error {
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("the write was applied, but its answer %q is not JSON: %w", body, err)
	}
	if noRev() {
		return fmt.Errorf("the write was applied, but its answer %q has no rev", body)
	}
	return nil
}
