package client

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// fakeCluster is the state the fake replicas share: a KV map with revs, as
// DESIGN.md §4.2 describes it.
type fakeCluster struct {
	mu     sync.Mutex
	leader string
	rev    uint64
	data   map[string]fakeEntry
}

type fakeEntry struct {
	value []byte
	rev   uint64
}

// seen is one request as a fake replica received it.
type seen struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// fakeNode is one replica of the fake cluster, serving the HTTP API
// contract. Canned answers in script are served, in order, before the real
// semantics to the KV requests.
type fakeNode struct {
	id  string
	c   *fakeCluster
	srv *httptest.Server

	mu     sync.Mutex
	status int // GET /v1/status hits
	kv     []seen
	script []http.HandlerFunc
}

func newFakeCluster(t *testing.T, n int, leader string) (*fakeCluster, []*fakeNode) {
	t.Helper()
	c := &fakeCluster{leader: leader, data: make(map[string]fakeEntry)}
	nodes := make([]*fakeNode, n)
	for i := range nodes {
		f := &fakeNode{id: strconv.Itoa(i + 1), c: c}
		f.srv = httptest.NewServer(f)
		t.Cleanup(f.srv.Close)
		nodes[i] = f
	}
	return c, nodes
}

// closedURL is the URL of a server that is gone: connecting is refused.
func closedURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

func urls(nodes ...*fakeNode) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.srv.URL)
	}
	return out
}

// then queues canned answers to the next KV requests.
func (f *fakeNode) then(h ...http.HandlerFunc) {
	f.mu.Lock()
	f.script = append(f.script, h...)
	f.mu.Unlock()
}

func (f *fakeNode) kvHits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.kv)
}

func (f *fakeNode) statusHits() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status
}

func (f *fakeNode) last(t *testing.T) seen {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.kv) == 0 {
		t.Fatalf("replica %s got no KV request", f.id)
	}
	return f.kv[len(f.kv)-1]
}

func answer(code int, errCode string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		writeErr(w, code, errCode, "canned "+errCode)
	}
}

// hangUp reads the request and closes the connection without answering.
func hangUp(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, map[string]string{"error": msg, "code": kind})
}

func (f *fakeNode) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if path == "/v1/status" {
		f.mu.Lock()
		f.status++
		f.mu.Unlock()
		f.c.mu.Lock()
		defer f.c.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{
			"id": f.id, "leader": f.c.leader, "is_leader": f.c.leader == f.id, "ballot": "3." + f.c.leader,
			"commit_seq": f.c.rev, "applied_seq": f.c.rev, "peers": map[string]string{"1": "127.0.0.1:7001"},
		})
		return
	}
	escaped, ok := strings.CutPrefix(path, "/v1/kv/")
	scriptOnly := path == "/v1/txn" || path == "/v1/kv" // canned answers only
	if !ok && !scriptOnly {
		writeErr(w, http.StatusNotFound, "not_found", "no such path")
		return
	}
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	f.mu.Lock()
	f.kv = append(f.kv, seen{method: r.Method, path: path, query: r.URL.RawQuery, header: r.Header.Clone(), body: body})
	var h http.HandlerFunc
	if len(f.script) > 0 {
		h, f.script = f.script[0], f.script[1:]
	}
	f.mu.Unlock()
	if h != nil {
		h(w, r)
		return
	}
	if scriptOnly {
		writeErr(w, http.StatusNotFound, "not_found", "the fake serves "+path+" from its script only")
		return
	}
	key, err := url.PathUnescape(escaped)
	if err != nil || key == "" || len(key) > 1024 {
		writeErr(w, http.StatusBadRequest, "bad_request", "bad key")
		return
	}
	f.c.serveKV(w, r, key)
}

func (c *fakeCluster) serveKV(w http.ResponseWriter, r *http.Request, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cur, exists := c.data[key]
	if r.Method == http.MethodGet {
		if !exists {
			writeErr(w, http.StatusNotFound, "not_found", "key not found")
			return
		}
		w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(cur.rev, 10)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(cur.value)
		return
	}
	ok := true
	if im := r.Header.Get("If-Match"); im == "*" {
		ok = exists
	} else if im != "" {
		rev, err := strconv.ParseUint(strings.Trim(im, `"`), 10, 64)
		if err != nil {
			writeErr(w, http.StatusBadRequest, "bad_request", "bad If-Match")
			return
		}
		ok = exists && cur.rev == rev
	}
	if inm := r.Header.Get("If-None-Match"); inm == "*" {
		ok = !exists
	}
	var body []byte
	if r.Method == http.MethodPut {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			writeErr(w, http.StatusRequestEntityTooLarge, "too_large", "value too large")
			return
		}
		body = b
	}
	c.rev++
	switch {
	case !ok:
		writeErr(w, http.StatusPreconditionFailed, "precondition_failed", fmt.Sprintf("condition failed at rev %d", c.rev))
	case r.Method == http.MethodPut:
		c.data[key] = fakeEntry{value: body, rev: c.rev}
		writeJSON(w, http.StatusOK, map[string]any{"rev": c.rev})
	case r.Method == http.MethodDelete:
		delete(c.data, key)
		writeJSON(w, http.StatusOK, map[string]any{"rev": c.rev, "deleted": exists})
	default:
		writeErr(w, http.StatusMethodNotAllowed, "method_not_allowed", "no")
	}
}
