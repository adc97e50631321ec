package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder replaces the client's sleep, so that retries take no time and
// the waits can be checked.
type recorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (r *recorder) sleep(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	r.waits = append(r.waits, d)
	r.mu.Unlock()
	return ctx.Err()
}

func (r *recorder) got() []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Duration(nil), r.waits...)
}

func newTestClient(t *testing.T, eps []string, opts ...Option) (*Client, *recorder) {
	t.Helper()
	c, err := New(eps, opts...)
	if err != nil {
		t.Fatalf("New(%q): %v", eps, err)
	}
	rec := &recorder{}
	c.sleep = rec.sleep
	t.Cleanup(c.CloseIdleConnections)
	return c, rec
}

func TestNewValidatesEndpoints(t *testing.T) {
	good := []struct {
		in   []string
		want []string
	}{
		{[]string{"http://127.0.0.1:8001"}, []string{"http://127.0.0.1:8001"}},
		{[]string{"127.0.0.1:8001"}, []string{"http://127.0.0.1:8001"}},
		{[]string{"localhost:8001", " https://h:1/ "}, []string{"http://localhost:8001", "https://h:1"}},
		{[]string{"h:1", "http://h:1", "h:2"}, []string{"http://h:1", "http://h:2"}},
	}
	for _, tt := range good {
		c, err := New(tt.in)
		if err != nil {
			t.Errorf("New(%q): %v", tt.in, err)
			continue
		}
		if got := c.Endpoints(); strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("New(%q).Endpoints() = %q, want %q", tt.in, got, tt.want)
		}
	}
	bad := []struct {
		in   []string
		want string
	}{
		{nil, "no endpoints"},
		{[]string{"h:1", ""}, "empty endpoint"},
		{[]string{"ftp://h:1"}, `"ftp://h:1"`},
		{[]string{"http://"}, `"http://"`},
		{[]string{"http://h:1/v1"}, `"http://h:1/v1"`},
		{[]string{"http://h:1?x=1"}, `"http://h:1?x=1"`},
		{[]string{"h:port"}, `"h:port"`},
		{[]string{"h:99999"}, `"h:99999"`},
		{[]string{"http://u:p@h:1"}, `"http://u:p@h:1"`},
	}
	for _, tt := range bad {
		_, err := New(tt.in)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New(%q) = %v, want an error naming %s", tt.in, err, tt.want)
		}
	}
	opts := []struct {
		o    Option
		want string
	}{
		{WithTimeout(0), "WithTimeout"},
		{WithMaxAttempts(0), "WithMaxAttempts"},
		{WithBackoff(time.Second, time.Millisecond), "WithBackoff"},
	}
	for _, tt := range opts {
		if _, err := New([]string{"h:1"}, tt.o); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("New with a bad option = %v, want an error naming %s", err, tt.want)
		}
	}
}

func TestPutGetDelete(t *testing.T) {
	_, nodes := newFakeCluster(t, 3, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()

	rev, err := c.Put(ctx, "k", []byte("v1"), Cond{})
	if err != nil || rev != 1 {
		t.Fatalf("Put = %d, %v; want rev 1", rev, err)
	}
	val, rev, err := c.Get(ctx, "k")
	if err != nil || string(val) != "v1" || rev != 1 {
		t.Fatalf("Get = %q, %d, %v; want v1 at rev 1", val, rev, err)
	}
	if rev, err := c.Put(ctx, "empty", nil, Cond{}); err != nil || rev != 2 {
		t.Fatalf("Put of an empty value = %d, %v; want rev 2", rev, err)
	}
	if val, _, err := c.Get(ctx, "empty"); err != nil || len(val) != 0 {
		t.Fatalf("Get(empty) = %q, %v; want an empty value", val, err)
	}
	rev, deleted, err := c.Delete(ctx, "k", Cond{})
	if err != nil || !deleted || rev != 3 {
		t.Fatalf("Delete = %d, %v, %v; want rev 3, deleted", rev, deleted, err)
	}
	rev, deleted, err = c.Delete(ctx, "k", Cond{})
	if err != nil || deleted || rev != 4 {
		t.Fatalf("Delete of an absent key = %d, %v, %v; want rev 4, not deleted", rev, deleted, err)
	}
	if _, _, err := c.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a deleted key: %v, want ErrNotFound", err)
	}
	for _, err := range []error{
		func() error { _, _, err := c.Get(ctx, ""); return err }(),
		func() error { _, err := c.Put(ctx, "", nil, Cond{}); return err }(),
		func() error { _, _, err := c.Delete(ctx, "", Cond{}); return err }(),
	} {
		if !errors.Is(err, ErrBadRequest) {
			t.Errorf("empty key: %v, want ErrBadRequest", err)
		}
	}
}

func TestPrefersTheLeader(t *testing.T) {
	_, nodes := newFakeCluster(t, 3, "2")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	for i := range 5 {
		if _, err := c.Put(ctx, "k", []byte{byte(i)}, Cond{}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Get(ctx, "k"); err != nil {
			t.Fatal(err)
		}
	}
	if got := [3]int{nodes[0].kvHits(), nodes[1].kvHits(), nodes[2].kvHits()}; got != [3]int{0, 10, 0} {
		t.Errorf("KV requests per replica = %v, want all 10 on the leader, replica 2", got)
	}
	for _, n := range nodes {
		if h := n.statusHits(); h > 1 {
			t.Errorf("replica %s was asked its status %d times, want at most once (the leader is cached)", n.id, h)
		}
	}
}

func TestConcurrentCallsShareOneDiscovery(t *testing.T) {
	_, nodes := newFakeCluster(t, 3, "3")
	c, _ := newTestClient(t, urls(nodes...))
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for i := range 32 {
		wg.Go(func() {
			_, err := c.Put(context.Background(), "k"+string(rune('a'+i%26)), []byte("v"), Cond{})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// The leader answers once; the others may not be asked at all, as the
	// discovery stops at the first answer that says it leads.
	for _, n := range nodes {
		if h := n.statusHits(); h > 1 || (n.id == "3" && h != 1) {
			t.Errorf("replica %s was asked its status %d times, want at most once", n.id, h)
		}
	}
	if h := nodes[2].kvHits(); h != 32 {
		t.Errorf("the leader got %d writes, want 32", h)
	}
}

func TestFailsOverFromAClosedEndpoint(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "")
	c, _ := newTestClient(t, []string{closedURL(t), nodes[0].srv.URL})
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", []byte("v"), Cond{}); err != nil {
		t.Fatalf("Put with one endpoint down: %v", err)
	}
	if v, _, err := c.Get(ctx, "k"); err != nil || string(v) != "v" {
		t.Fatalf("Get with one endpoint down = %q, %v", v, err)
	}
}

func TestWriteMovesOnWhenTheCachedLeaderDies(t *testing.T) {
	cl, nodes := newFakeCluster(t, 2, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", []byte("v1"), Cond{}); err != nil {
		t.Fatal(err)
	}
	if nodes[0].kvHits() != 1 {
		t.Fatalf("the first write did not go to the leader")
	}
	nodes[0].srv.Close()
	c.CloseIdleConnections() // the next request dials, and the dial is refused
	cl.mu.Lock()
	cl.leader = "2"
	cl.mu.Unlock()
	// The dial was refused, so the write certainly was not sent: it is
	// retried on the other endpoint.
	rev, err := c.Put(ctx, "k", []byte("v2"), Cond{})
	if err != nil || rev != 2 {
		t.Fatalf("Put after the leader died = %d, %v; want rev 2", rev, err)
	}
	if h := nodes[1].kvHits(); h != 1 {
		t.Fatalf("replica 2 got %d writes, want 1", h)
	}
}

func TestNoLeaderIsRetriedHonouringRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		backoffMax time.Duration
		retryAfter string
		wantWait   time.Duration
	}{
		{"retry-after honoured", 10 * time.Second, "1", time.Second},
		{"retry-after capped", 100 * time.Millisecond, "30", 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, nodes := newFakeCluster(t, 1, "1")
			n := nodes[0]
			n.then(answer(503, "no_leader", "Retry-After", tt.retryAfter), answer(503, "unavailable", "Retry-After", tt.retryAfter))
			c, rec := newTestClient(t, urls(n), WithBackoff(time.Millisecond, tt.backoffMax))
			rev, err := c.Put(context.Background(), "k", []byte("v"), IfAbsent())
			if err != nil || rev != 1 {
				t.Fatalf("Put = %d, %v; want rev 1 after two 503s", rev, err)
			}
			if h := n.kvHits(); h != 3 {
				t.Errorf("server got %d writes, want 3", h)
			}
			waits := rec.got()
			if len(waits) != 2 || waits[0] != tt.wantWait || waits[1] != tt.wantWait {
				t.Errorf("waits = %v, want two of %v", waits, tt.wantWait)
			}
		})
	}
}

func TestNoLeaderGivesUpAfterMaxAttempts(t *testing.T) {
	_, nodes := newFakeCluster(t, 2, "")
	for _, n := range nodes {
		n.then(answer(503, "no_leader"), answer(503, "no_leader"), answer(503, "no_leader"))
	}
	c, _ := newTestClient(t, urls(nodes...), WithMaxAttempts(5))
	_, err := c.Put(context.Background(), "k", []byte("v"), Cond{})
	if !errors.Is(err, ErrNoLeader) || errors.Is(err, ErrIndeterminate) {
		t.Fatalf("Put = %v, want ErrNoLeader", err)
	}
	if h := nodes[0].kvHits() + nodes[1].kvHits(); h != 5 {
		t.Errorf("servers got %d writes, want 5 (the attempt limit)", h)
	}
}

func TestIndeterminateWritesAreNotRetried(t *testing.T) {
	tests := []struct {
		name   string
		answer http.HandlerFunc
		api    bool // the error carries an *APIError
	}{
		{"504", answer(504, "indeterminate"), true},
		{"500", answer(500, "internal"), true},
		{"connection dropped", hangUp, false},
	}
	for _, tt := range tests {
		for _, op := range []string{"put", "delete"} {
			t.Run(tt.name+"/"+op, func(t *testing.T) {
				_, nodes := newFakeCluster(t, 3, "1")
				nodes[0].then(tt.answer)
				c, _ := newTestClient(t, urls(nodes...))
				var err error
				if op == "put" {
					_, err = c.Put(context.Background(), "k", []byte("v"), Cond{})
				} else {
					_, _, err = c.Delete(context.Background(), "k", Cond{})
				}
				if !errors.Is(err, ErrIndeterminate) {
					t.Fatalf("%s = %v, want ErrIndeterminate", op, err)
				}
				var ae *APIError
				if errors.As(err, &ae) != tt.api {
					t.Errorf("errors.As(%v, *APIError) = %v, want %v", err, !tt.api, tt.api)
				}
				if h := nodes[0].kvHits() + nodes[1].kvHits() + nodes[2].kvHits(); h != 1 {
					t.Errorf("servers got %d writes, want exactly 1: an unknown outcome must not be retried", h)
				}
			})
		}
	}
}

func TestWriteTimeoutIsIndeterminate(t *testing.T) {
	_, nodes := newFakeCluster(t, 2, "1")
	nodes[0].then(func(w http.ResponseWriter, r *http.Request) {
		// Once the body is read, the server notices the client hanging up.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	c, _ := newTestClient(t, urls(nodes...), WithTimeout(50*time.Millisecond))
	_, err := c.Put(context.Background(), "k", []byte("v"), Cond{})
	if !errors.Is(err, ErrIndeterminate) {
		t.Fatalf("Put = %v, want ErrIndeterminate", err)
	}
	if h := nodes[0].kvHits() + nodes[1].kvHits(); h != 1 {
		t.Errorf("servers got %d writes, want 1", h)
	}
}

func TestCanceledBeforeSendingIsNotIndeterminate(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Put(ctx, "k", []byte("v"), Cond{})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrIndeterminate) {
		t.Fatalf("Put with a canceled context = %v, want context.Canceled and not ErrIndeterminate", err)
	}
	if h := nodes[0].kvHits(); h != 0 {
		t.Errorf("server got %d writes, want 0", h)
	}
}

func TestReadsRetryOnAnyFailure(t *testing.T) {
	_, nodes := newFakeCluster(t, 3, "1")
	c, _ := newTestClient(t, append([]string{closedURL(t)}, urls(nodes...)...))
	if _, err := c.Put(context.Background(), "k", []byte("v"), Cond{}); err != nil {
		t.Fatal(err)
	}
	nodes[0].then(answer(504, "indeterminate"))
	nodes[1].then(hangUp)
	nodes[2].then(answer(500, "internal"))
	nodes[0].then(answer(503, "unavailable"))
	v, rev, err := c.Get(context.Background(), "k")
	if err != nil || string(v) != "v" || rev != 1 {
		t.Fatalf("Get = %q, %d, %v; want v at rev 1 after retries", v, rev, err)
	}
}

func TestErrorMapping(t *testing.T) {
	sentinels := []error{ErrNotFound, ErrConditionFailed, ErrTooLarge, ErrBadRequest, ErrNoLeader, ErrIndeterminate}
	tests := []struct {
		status int
		code   string
		want   error // nil: none of the sentinels
	}{
		{400, "bad_request", ErrBadRequest},
		{404, "not_found", ErrNotFound},
		{405, "method_not_allowed", nil},
		{412, "precondition_failed", ErrConditionFailed},
		{413, "too_large", ErrTooLarge},
	}
	for _, tt := range tests {
		_, nodes := newFakeCluster(t, 2, "1")
		nodes[0].then(answer(tt.status, tt.code))
		c, _ := newTestClient(t, urls(nodes...))
		_, err := c.Put(context.Background(), "k", []byte("v"), IfRev(3))
		var ae *APIError
		if !errors.As(err, &ae) || ae.Status != tt.status || ae.Code != tt.code || ae.Message != "canned "+tt.code {
			t.Errorf("%d: error %v (%#v), want an *APIError{%d, %q, \"canned ...\"}", tt.status, err, ae, tt.status, tt.code)
		}
		for _, s := range sentinels {
			if got := errors.Is(err, s); got != (s == tt.want) {
				t.Errorf("%d: errors.Is(err, %v) = %v", tt.status, s, got)
			}
		}
		if h := nodes[0].kvHits() + nodes[1].kvHits(); h != 1 {
			t.Errorf("%d: servers got %d requests, want 1 (a definite answer is not retried)", tt.status, h)
		}
	}
	// Errors with the real semantics of the fake.
	_, nodes := newFakeCluster(t, 1, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", bytes.Repeat([]byte("x"), 1<<20+1), Cond{}); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Put of 1 MiB + 1 = %v, want ErrTooLarge", err)
	}
	if _, err := c.Put(ctx, strings.Repeat("k", 1025), nil, Cond{}); !errors.Is(err, ErrBadRequest) {
		t.Errorf("Put with a 1025-byte key = %v, want ErrBadRequest", err)
	}
	if _, _, err := c.Get(ctx, "absent"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get of an absent key = %v, want ErrNotFound", err)
	}
}

func TestAPIErrorWithoutJSONBody(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "1")
	nodes[0].then(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "plain text", http.StatusPreconditionFailed)
	})
	c, _ := newTestClient(t, urls(nodes...))
	_, err := c.Put(context.Background(), "k", nil, Cond{})
	var ae *APIError
	if !errors.As(err, &ae) || !errors.Is(err, ErrConditionFailed) || ae.Message != "plain text" || ae.Code != "" {
		t.Fatalf("Put = %v (%#v), want a 412 *APIError with message \"plain text\"", err, ae)
	}
}

func TestKeysArePercentEncoded(t *testing.T) {
	tests := []struct{ key, path string }{
		{"a/b", "/v1/kv/a%2Fb"},
		{"sp ace", "/v1/kv/sp%20ace"},
		{"q?x#y", "/v1/kv/q%3Fx%23y"},
		{"100%", "/v1/kv/100%25"},
		{"ü", "/v1/kv/%C3%BC"},
		{".", "/v1/kv/%2E"},
		{"..", "/v1/kv/%2E%2E"},
		{"a/../b", "/v1/kv/a%2F..%2Fb"},
	}
	_, nodes := newFakeCluster(t, 1, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	for _, tt := range tests {
		if _, err := c.Put(ctx, tt.key, []byte(tt.key), Cond{}); err != nil {
			t.Fatalf("Put(%q): %v", tt.key, err)
		}
		if got := nodes[0].last(t).path; got != tt.path {
			t.Errorf("Put(%q) went to %q, want %q", tt.key, got, tt.path)
		}
		v, _, err := c.Get(ctx, tt.key)
		if err != nil || string(v) != tt.key {
			t.Errorf("Get(%q) = %q, %v", tt.key, v, err)
		}
		if got := nodes[0].last(t).path; got != tt.path {
			t.Errorf("Get(%q) went to %q, want %q", tt.key, got, tt.path)
		}
	}
}

func TestConditionHeaders(t *testing.T) {
	tests := []struct {
		cond               Cond
		ifMatch, ifNoneMat string
	}{
		{Cond{}, "", ""},
		{IfRev(12), `"12"`, ""},
		{IfExists(), "*", ""},
		{IfAbsent(), "", "*"},
	}
	_, nodes := newFakeCluster(t, 1, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	for _, tt := range tests {
		for _, op := range []string{"put", "delete"} {
			nodes[0].then(func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]any{"rev": 1}) })
			var err error
			if op == "put" {
				_, err = c.Put(ctx, "k", []byte("v"), tt.cond)
			} else {
				_, _, err = c.Delete(ctx, "k", tt.cond)
			}
			if err != nil {
				t.Fatal(err)
			}
			h := nodes[0].last(t).header
			_, hasIM := h["If-Match"]
			_, hasINM := h["If-None-Match"]
			if h.Get("If-Match") != tt.ifMatch || h.Get("If-None-Match") != tt.ifNoneMat ||
				hasIM != (tt.ifMatch != "") || hasINM != (tt.ifNoneMat != "") {
				t.Errorf("%s with %v sent If-Match %q, If-None-Match %q", op, tt.cond, h["If-Match"], h["If-None-Match"])
			}
		}
	}
	// The conditions' meaning, end to end with the fake.
	if _, err := c.Put(ctx, "c", []byte("1"), IfExists()); !errors.Is(err, ErrConditionFailed) {
		t.Errorf("IfExists on an absent key: %v, want ErrConditionFailed", err)
	}
	rev, err := c.Put(ctx, "c", []byte("1"), IfAbsent())
	if err != nil {
		t.Fatalf("IfAbsent on an absent key: %v", err)
	}
	if _, err := c.Put(ctx, "c", []byte("2"), IfAbsent()); !errors.Is(err, ErrConditionFailed) {
		t.Errorf("IfAbsent on a present key: %v, want ErrConditionFailed", err)
	}
	if _, err := c.Put(ctx, "c", []byte("2"), IfRev(rev+100)); !errors.Is(err, ErrConditionFailed) {
		t.Errorf("IfRev with a wrong rev: %v, want ErrConditionFailed", err)
	}
	if _, _, err := c.Delete(ctx, "c", IfRev(rev)); err != nil {
		t.Errorf("Delete IfRev with the right rev: %v", err)
	}
}

func TestETagParsing(t *testing.T) {
	tests := []struct {
		etag string
		rev  uint64
		ok   bool
	}{
		{`"12"`, 12, true},
		{`W/"7"`, 7, true},
		{`3`, 3, true},
		{``, 0, false},
		{`"x"`, 0, false},
		{`"-1"`, 0, false},
	}
	_, nodes := newFakeCluster(t, 1, "1")
	c, _ := newTestClient(t, urls(nodes...))
	for _, tt := range tests {
		nodes[0].then(func(w http.ResponseWriter, _ *http.Request) {
			if tt.etag != "" {
				w.Header().Set("ETag", tt.etag)
			}
			_, _ = w.Write([]byte("val"))
		})
		v, rev, err := c.Get(context.Background(), "k")
		if tt.ok && (err != nil || rev != tt.rev || string(v) != "val") {
			t.Errorf("ETag %s: Get = %q, %d, %v; want val at rev %d", tt.etag, v, rev, err, tt.rev)
		}
		if !tt.ok && (err == nil || !strings.Contains(err.Error(), "ETag")) {
			t.Errorf("ETag %s: Get = %d, %v; want an error about the ETag", tt.etag, rev, err)
		}
	}
}

func TestStaleRead(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", []byte("v"), Cond{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Get(ctx, "k", Stale()); err != nil {
		t.Fatal(err)
	}
	if q := nodes[0].last(t).query; q != "consistency=stale" {
		t.Errorf("stale read sent query %q, want consistency=stale", q)
	}
	if _, _, err := c.Get(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if q := nodes[0].last(t).query; q != "" {
		t.Errorf("linearizable read sent query %q, want none", q)
	}
}

func TestStatus(t *testing.T) {
	_, nodes := newFakeCluster(t, 2, "2")
	down := closedURL(t)
	c, _ := newTestClient(t, []string{nodes[0].srv.URL, down, nodes[1].srv.URL})
	ctx := context.Background()

	st, err := c.Status(ctx, nodes[1].srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	want := Status{ID: "2", Leader: "2", IsLeader: true, Ballot: "3.2", Peers: map[string]string{"1": "127.0.0.1:7001"}}
	if st.ID != want.ID || st.Leader != want.Leader || !st.IsLeader || st.Ballot != want.Ballot || st.Peers["1"] != "127.0.0.1:7001" {
		t.Errorf("Status = %+v, want %+v", st, want)
	}
	if _, err := c.Status(ctx, "ftp://x"); err == nil {
		t.Error("Status of a bad endpoint: no error")
	}

	all, err := c.StatusAll(ctx)
	if err != nil {
		t.Fatalf("StatusAll with one endpoint down: %v", err)
	}
	if len(all) != 3 || all[0].Err != nil || all[1].Err == nil || all[2].Err != nil ||
		all[0].Status.ID != "1" || all[2].Status.ID != "2" || all[1].Endpoint != down {
		t.Errorf("StatusAll = %+v", all)
	}

	c2, _ := newTestClient(t, []string{down})
	if all, err := c2.StatusAll(ctx); err == nil || len(all) != 1 || all[0].Err == nil {
		t.Errorf("StatusAll with every endpoint down = %+v, %v; want an error", all, err)
	}
}

func TestAPIErrorMessage(t *testing.T) {
	e := &APIError{Status: 503, Code: "no_leader", Message: "no leader yet"}
	if got := e.Error(); got != "no leader yet (HTTP 503 no_leader)" {
		t.Errorf("Error() = %q", got)
	}
	if got := (&APIError{Status: 404}).Error(); got != "Not Found (HTTP 404)" {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(&APIError{Status: 200, Code: "indeterminate"}, ErrIndeterminate) {
		t.Error("code indeterminate does not match ErrIndeterminate")
	}
}

func TestFindsTheNewLeaderAfterAFailure(t *testing.T) {
	cl, nodes := newFakeCluster(t, 3, "1")
	c, _ := newTestClient(t, urls(nodes...))
	ctx := context.Background()
	if _, err := c.Put(ctx, "k", []byte("v"), Cond{}); err != nil {
		t.Fatal(err)
	}
	// Replica 1 loses the leadership to replica 2 and says so with a 503.
	cl.mu.Lock()
	cl.leader = "2"
	cl.mu.Unlock()
	nodes[0].then(answer(503, "no_leader", "Retry-After", "1"))
	for range 3 {
		if _, err := c.Put(ctx, "k", []byte("v"), Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := [3]int{nodes[0].kvHits(), nodes[1].kvHits(), nodes[2].kvHits()}; got != [3]int{2, 3, 0} {
		t.Errorf("KV requests per replica = %v, want [2 3 0]: the 503 moves the write on, and later writes go to the new leader", got)
	}
}

// WithEndpointsInOrder sends every call to the first endpoint, leader or
// not, and to the next only once it fails: clients given the endpoints in
// different orders spread the load over the replicas.
func TestEndpointsInOrder(t *testing.T) {
	_, nodes := newFakeCluster(t, 3, "3")
	c, _ := newTestClient(t, []string{nodes[1].srv.URL, nodes[2].srv.URL, nodes[0].srv.URL}, WithEndpointsInOrder())
	ctx := context.Background()
	for i := range 4 {
		if _, err := c.Put(ctx, "k", []byte{byte(i)}, Cond{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := [3]int{nodes[0].kvHits(), nodes[1].kvHits(), nodes[2].kvHits()}; got != [3]int{0, 4, 0} {
		t.Errorf("KV requests per replica = %v, want all 4 on replica 2, the first endpoint", got)
	}
	nodes[1].srv.Close()
	c.CloseIdleConnections() // a new connection is refused: nothing was sent
	if _, err := c.Put(ctx, "k", []byte("x"), Cond{}); err != nil {
		t.Fatalf("Put with the first endpoint down: %v", err)
	}
	if _, err := c.Put(ctx, "k", []byte("y"), Cond{}); err != nil {
		t.Fatal(err)
	}
	if h := nodes[2].kvHits(); h != 2 {
		t.Errorf("the second endpoint got %d writes after the first went down, want 2", h)
	}
}
