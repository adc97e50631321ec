package node

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/msg"
)

type httpResp struct {
	code int
	body []byte
	hdr  http.Header
}

func (r httpResp) errCode(t *testing.T) string {
	t.Helper()
	var e struct{ Error, Code string }
	if err := json.Unmarshal(r.body, &e); err != nil || e.Error == "" {
		t.Fatalf("status %d body %q is not a JSON error: %v", r.code, r.body, err)
	}
	return e.Code
}

func do(t *testing.T, method, url string, body []byte, hdr ...string) httpResp {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return httpResp{resp.StatusCode, b, resp.Header}
}

func TestHTTPContract(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	f := tc.follower(l)
	// Through a follower: it forwards to the leader through the actor system.
	srv := httptest.NewServer(f.Handler(HTTPConfig{MaxValueBytes: 1 << 20}))
	defer srv.Close()
	u := srv.URL

	put := do(t, "PUT", u+"/v1/kv/a%2Fb", []byte("v1"))
	if put.code != 200 || !strings.Contains(string(put.body), `"rev":1`) {
		t.Fatalf("PUT: %d %s", put.code, put.body)
	}
	get := do(t, "GET", u+"/v1/kv/a/b", nil) // a%2Fb and a/b name the same key
	if get.code != 200 || string(get.body) != "v1" || get.hdr.Get("ETag") != `"1"` {
		t.Fatalf("GET: %d %q etag %q", get.code, get.body, get.hdr.Get("ETag"))
	}
	if r := do(t, "GET", u+"/v1/kv/a/b?consistency=stale", nil); r.code != 200 || string(r.body) != "v1" {
		t.Fatalf("stale GET: %d %q", r.code, r.body)
	}

	tests := []struct {
		name       string
		method     string
		path       string
		body       []byte
		hdr        []string
		code       int
		errCode    string
		bodySubstr string
	}{
		{"put with current rev", "PUT", "/v1/kv/a%2Fb", []byte("v2"), []string{"If-Match", `"1"`}, 200, "", `"rev":2`},
		{"put with stale rev", "PUT", "/v1/kv/a%2Fb", []byte("v3"), []string{"If-Match", `"1"`}, 412, "precondition_failed", ""},
		{"if-none-match on existing", "PUT", "/v1/kv/a%2Fb", []byte("x"), []string{"If-None-Match", "*"}, 412, "precondition_failed", ""},
		{"if-match * on absent", "PUT", "/v1/kv/nope", []byte("x"), []string{"If-Match", "*"}, 412, "precondition_failed", ""},
		{"if-none-match on absent", "PUT", "/v1/kv/fresh", []byte("x"), []string{"If-None-Match", "*"}, 200, "", `"rev":`},
		{"malformed if-match", "PUT", "/v1/kv/k", []byte("x"), []string{"If-Match", "12"}, 400, "bad_request", ""},
		{"malformed if-none-match", "PUT", "/v1/kv/k", []byte("x"), []string{"If-None-Match", `"3"`}, 400, "bad_request", ""},
		{"value at the limit", "PUT", "/v1/kv/big", make([]byte, 1<<20), nil, 200, "", `"rev":`},
		{"value over the limit", "PUT", "/v1/kv/big", make([]byte, 1<<20+1), nil, 413, "too_large", ""},
		{"empty key", "PUT", "/v1/kv/", []byte("x"), nil, 400, "bad_request", ""},
		{"a listing at /v1/kv/", "GET", "/v1/kv/", nil, nil, 200, "", `"items":`},
		{"key too long", "GET", "/v1/kv/" + strings.Repeat("k", 1025), nil, nil, 400, "bad_request", ""},
		{"key at the limit", "GET", "/v1/kv/" + strings.Repeat("k", 1024), nil, nil, 404, "not_found", ""},
		{"bad consistency", "GET", "/v1/kv/a?consistency=fast", nil, nil, 400, "bad_request", ""},
		{"absent key", "GET", "/v1/kv/absent", nil, nil, 404, "not_found", ""},
		{"unknown path", "GET", "/v2/nothing", nil, nil, 404, "not_found", ""},
		{"wrong method on kv", "POST", "/v1/kv/a", nil, nil, 405, "method_not_allowed", ""},
		{"wrong method on status", "DELETE", "/v1/status", nil, nil, 405, "method_not_allowed", ""},
		{"delete stale rev", "DELETE", "/v1/kv/a%2Fb", nil, []string{"If-Match", `"1"`}, 412, "precondition_failed", ""},
		{"delete", "DELETE", "/v1/kv/a%2Fb", nil, nil, 200, "", `"deleted":true`},
		{"delete absent", "DELETE", "/v1/kv/a%2Fb", nil, nil, 200, "", `"deleted":false`},
		{"healthz", "GET", "/healthz", nil, nil, 200, "", ""},
		{"metrics", "GET", "/metrics", nil, nil, 200, "", "rsml_http_requests_total"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, tt.method, u+tt.path, tt.body, tt.hdr...)
			if r.code != tt.code {
				t.Fatalf("%s %s: %d %s, want %d", tt.method, tt.path, r.code, r.body, tt.code)
			}
			if tt.errCode != "" {
				if got := r.errCode(t); got != tt.errCode {
					t.Fatalf("error code %q, want %q", got, tt.errCode)
				}
			}
			if !strings.Contains(string(r.body), tt.bodySubstr) {
				t.Fatalf("body %q lacks %q", r.body, tt.bodySubstr)
			}
			if tt.code == 405 && r.hdr.Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}

	var st struct {
		ID, Leader, Ballot string
		IsLeader           bool   `json:"is_leader"`
		CommitSeq          uint64 `json:"commit_seq"`
		AppliedSeq         uint64 `json:"applied_seq"`
		Peers              map[string]string
	}
	r := do(t, "GET", u+"/v1/status", nil)
	if r.code != 200 || json.Unmarshal(r.body, &st) != nil {
		t.Fatalf("status: %d %s", r.code, r.body)
	}
	if st.ID != f.ID().String() || st.Leader != l.ID().String() || st.IsLeader || len(st.Peers) != 3 || st.CommitSeq == 0 {
		t.Fatalf("status %+v", st)
	}
	if b, err := msg.ParseBallot(st.Ballot); err != nil || b.ID != l.ID() {
		t.Fatalf("status ballot %q: %v", st.Ballot, err)
	}
}

func TestHTTPNoLeaderAndIndeterminate(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	f := tc.follower(l)
	cfg := HTTPConfig{RequestTimeout: 400 * time.Millisecond}
	fs := httptest.NewServer(f.Handler(cfg))
	defer fs.Close()
	ls := httptest.NewServer(l.Handler(cfg))
	defer ls.Close()

	// A leader cut off from everyone proposes but cannot commit: the outcome
	// of its write is unknown.
	tc.Net.Isolate(l.ID())
	r := do(t, "PUT", ls.URL+"/v1/kv/k", []byte("x"))
	if r.code != 504 || r.errCode(t) != "indeterminate" {
		t.Fatalf("write on an isolated leader: %d %s, want 504 indeterminate", r.code, r.body)
	}
	// A follower cut off from everyone knows no leader once its election
	// fails: its writes are certainly not proposed.
	tc.Net.Isolate(f.ID())
	waitFor(t, func() bool { return f.Status().Leader == 0 })
	r = do(t, "PUT", fs.URL+"/v1/kv/k", []byte("x"))
	if r.code != 503 || r.errCode(t) != "no_leader" || r.hdr.Get("Retry-After") == "" {
		t.Fatalf("write without a leader: %d %s (Retry-After %q), want 503 no_leader", r.code, r.body, r.hdr.Get("Retry-After"))
	}
	r = do(t, "GET", fs.URL+"/v1/kv/k", nil)
	if r.code != 503 {
		t.Fatalf("linearizable read without a leader: %d %s, want 503", r.code, r.body)
	}
	if r = do(t, "GET", fs.URL+"/v1/kv/k?consistency=stale", nil); r.code != 404 {
		t.Fatalf("stale read without a leader: %d, want 404 from the local copy", r.code)
	}
}

func TestHTTPTruncatedAndSlowBodies(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	hs, err := l.ListenHTTP("127.0.0.1:0", HTTPConfig{ReadTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close(context.Background())

	// Truncated: the body ends (the client half-closes) before Content-Length.
	c, err := net.Dial("tcp", hs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /v1/kv/t HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	c.(*net.TCPConn).CloseWrite()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 {
		t.Fatalf("truncated body: %d, want 400", resp.StatusCode)
	}
	if _, _, found, _ := l.StaleGet(context.Background(), "t"); found {
		t.Fatal("a truncated request changed the store")
	}

	// Slow: the body never comes; the server gives up after ReadTimeout
	// instead of holding the connection.
	s, err := net.Dial("tcp", hs.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fmt.Fprintf(s, "PUT /v1/kv/slow HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhe")
	s.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf, _ := io.ReadAll(s) // returns when the server closes the connection
	if strings.Contains(string(buf), " 200 ") {
		t.Fatalf("slow body was accepted: %q", buf)
	}
	if _, _, found, _ := l.StaleGet(context.Background(), "slow"); found {
		t.Fatal("a slow, incomplete request changed the store")
	}
}

// /debug/pprof/ is served only with HTTPConfig.Pprof.
func TestHTTPPprof(t *testing.T) {
	tc := startCluster(t, 1, Config{})
	n := tc.Node(1)
	get := func(h http.Handler, path string) int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code
	}
	if code := get(n.Handler(HTTPConfig{}), "/debug/pprof/"); code != http.StatusNotFound {
		t.Fatalf("pprof off: GET /debug/pprof/ = %d, want 404", code)
	}
	on := n.Handler(HTTPConfig{Pprof: true})
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/cmdline"} {
		if code := get(on, p); code != http.StatusOK {
			t.Fatalf("pprof on: GET %s = %d, want 200", p, code)
		}
	}
}

// writeRev answers writes without encoding/json; a client must not be able
// to tell: same status, header and bytes as writeJSON's.
func TestWriteRevIsWriteJSON(t *testing.T) {
	for _, rev := range []uint64{0, 1, 42, 1 << 40, ^uint64(0)} {
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, http.StatusOK, map[string]any{"rev": rev})
		writeRev(got, rev)
		if got.Code != want.Code || got.Body.String() != want.Body.String() ||
			got.Header().Get("Content-Type") != want.Header().Get("Content-Type") || len(got.Header()) != len(want.Header()) {
			t.Fatalf("rev %d: writeRev gave %d %v %q, writeJSON %d %v %q", rev,
				got.Code, got.Header(), got.Body, want.Code, want.Header(), want.Body)
		}
	}
}
