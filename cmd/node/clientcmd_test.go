package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
	"github.com/rsml-go/rsml/node"
)

// cliFake is one fake replica serving the HTTP API contract (DESIGN.md
// §4.2) from a map, with canned answers for the next KV requests.
type cliFake struct {
	srv *httptest.Server
	id  string

	mu     sync.Mutex
	rev    uint64
	data   map[string]cliEntry
	script []http.HandlerFunc
	last   *http.Request // the last KV request
	path   string        // its escaped path
}

type cliEntry struct {
	value []byte
	rev   uint64
}

func newCLIFake(t *testing.T, id string) *cliFake {
	t.Helper()
	f := &cliFake{id: id, data: make(map[string]cliEntry)}
	f.srv = httptest.NewServer(f)
	t.Cleanup(f.srv.Close)
	return f
}

// fastRetries makes the commands' retries take no noticeable time.
func fastRetries(t *testing.T) {
	old := cliOptions
	cliOptions = []client.Option{client.WithBackoff(0, 0), client.WithMaxAttempts(3)}
	t.Cleanup(func() { cliOptions = old })
}

func cliDownURL(t *testing.T) string {
	s := httptest.NewServer(http.NotFoundHandler())
	s.Close()
	return s.URL
}

func cliJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func cliCanned(code int, kind string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		cliJSON(w, code, map[string]string{"error": "canned " + kind, "code": kind})
	}
}

func (f *cliFake) then(h ...http.HandlerFunc) {
	f.mu.Lock()
	f.script = append(f.script, h...)
	f.mu.Unlock()
}

func (f *cliFake) lastRequest(t *testing.T) (*http.Request, string) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.last == nil {
		t.Fatal("no KV request")
	}
	return f.last, f.path
}

func (f *cliFake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	path := r.URL.EscapedPath()
	if path == "/v1/status" {
		cliJSON(w, http.StatusOK, map[string]any{"id": f.id, "leader": "1", "is_leader": f.id == "1",
			"ballot": "4.1", "commit_seq": f.rev, "applied_seq": f.rev, "peers": map[string]string{"1": "127.0.0.1:7001"}})
		return
	}
	esc, ok := strings.CutPrefix(path, "/v1/kv/")
	if !ok {
		cliJSON(w, http.StatusNotFound, map[string]string{"error": "no such path", "code": "not_found"})
		return
	}
	f.last, f.path = r.Clone(r.Context()), path
	if len(f.script) > 0 {
		h := f.script[0]
		f.script = f.script[1:]
		h(w, r)
		return
	}
	key, _ := url.PathUnescape(esc)
	cur, exists := f.data[key]
	switch r.Method {
	case http.MethodGet:
		if !exists {
			cliJSON(w, http.StatusNotFound, map[string]string{"error": "key not found", "code": "not_found"})
			return
		}
		w.Header().Set("ETag", strconv.Quote(strconv.FormatUint(cur.rev, 10)))
		_, _ = w.Write(cur.value)
		return
	}
	ok = true
	switch im := r.Header.Get("If-Match"); im {
	case "":
	case "*":
		ok = exists
	default:
		ok = exists && strconv.Quote(strconv.FormatUint(cur.rev, 10)) == im
	}
	if r.Header.Get("If-None-Match") == "*" {
		ok = !exists
	}
	body, _ := io.ReadAll(r.Body)
	f.rev++
	switch {
	case !ok:
		cliJSON(w, http.StatusPreconditionFailed, map[string]string{"error": "condition failed", "code": "precondition_failed"})
	case r.Method == http.MethodPut:
		f.data[key] = cliEntry{body, f.rev}
		cliJSON(w, http.StatusOK, map[string]any{"rev": f.rev})
	default:
		delete(f.data, key)
		cliJSON(w, http.StatusOK, map[string]any{"rev": f.rev, "deleted": exists})
	}
}

type cliResult struct {
	code           int
	stdout, stderr string
}

func runKV(stdin string, args ...string) cliResult {
	var out, errb strings.Builder
	code := kvCommand(args, strings.NewReader(stdin), &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func runStatus(args ...string) cliResult {
	var out, errb strings.Builder
	code := statusCommand(args, &out, &errb)
	return cliResult{code, out.String(), errb.String()}
}

func TestKVCommands(t *testing.T) {
	f := newCLIFake(t, "1")
	ep := "--endpoints=" + f.srv.URL
	steps := []struct {
		args   []string
		code   int
		stdout string // exact
		stderr string // contained
	}{
		{[]string{"put", ep, "k", "v"}, 0, "OK rev=1\n", ""},
		{[]string{"get", ep, "k"}, 0, "v", ""},
		{[]string{"put", ep, "-o", "json", "k", "v2"}, 0, `{"rev":2}` + "\n", ""},
		{[]string{"get", ep, "--output", "json", "k"}, 0, `{"key":"k","value":"v2","rev":2}` + "\n", ""},
		{[]string{"get", ep, "--stale", "k"}, 0, "v2", ""},
		{[]string{"put", ep, "html", "<a&b>"}, 0, "OK rev=3\n", ""},
		{[]string{"get", ep, "-o=json", "html"}, 0, `{"key":"html","value":"<a&b>","rev":3}` + "\n", ""},
		{[]string{"delete", ep, "k"}, 0, "deleted rev=4\n", ""},
		{[]string{"delete", ep, "k"}, 0, "not found rev=5\n", ""},
		{[]string{"delete", ep, "-o", "json", "k"}, 0, `{"rev":6,"deleted":false}` + "\n", ""},
		{[]string{"put", ep, "k", "v3"}, 0, "OK rev=7\n", ""},
		{[]string{"delete", ep, "-o", "json", "k"}, 0, `{"rev":8,"deleted":true}` + "\n", ""},
		{[]string{"get", ep, "k"}, 3, "", "not found"},
		{[]string{"get", ep, "-o", "json", "k"}, 3, "", "not found"},
		{[]string{"put", ep, "a/b", "slash"}, 0, "OK rev=9\n", ""},
		{[]string{"get", ep, "a/b"}, 0, "slash", ""},
	}
	for _, s := range steps {
		r := runKV("", s.args...)
		if r.code != s.code || r.stdout != s.stdout || !strings.Contains(r.stderr, s.stderr) {
			t.Errorf("kv %q = %d, stdout %q, stderr %q; want %d, %q, stderr containing %q",
				s.args, r.code, r.stdout, r.stderr, s.code, s.stdout, s.stderr)
		}
		if s.code == 3 && !strings.HasPrefix(r.stderr, "rsml-node: ") {
			t.Errorf("kv %q: stderr %q lacks the rsml-node: prefix", s.args, r.stderr)
		}
	}
	if _, path := f.lastRequest(t); path != "/v1/kv/a%2Fb" {
		t.Errorf("key a/b was sent as %q, want /v1/kv/a%%2Fb", path)
	}
}

func TestKVPutFromStdin(t *testing.T) {
	f := newCLIFake(t, "1")
	in := "line 1\nline 2\n\x00"
	if r := runKV(in, "put", "k", "-", "--endpoints", f.srv.URL); r.code != 0 || r.stdout != "OK rev=1\n" {
		t.Fatalf("kv put k - = %+v", r)
	}
	if got := string(f.data["k"].value); got != in {
		t.Errorf("stored %q, want stdin %q", got, in)
	}
	// A value that starts with "-" after "--".
	if r := runKV("", "put", "--endpoints", f.srv.URL, "--", "k", "-5"); r.code != 0 {
		t.Fatalf("kv put -- k -5 = %+v", r)
	}
	if got := string(f.data["k"].value); got != "-5" {
		t.Errorf("stored %q, want -5", got)
	}
}

func TestKVGetBinaryJSON(t *testing.T) {
	f := newCLIFake(t, "1")
	f.data["bin"] = cliEntry{[]byte{0xff, 0xfe, 'a'}, 7}
	r := runKV("", "get", "bin", "-o", "json", "--endpoints", f.srv.URL)
	if r.code != 0 {
		t.Fatalf("kv get = %+v", r)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &got); err != nil {
		t.Fatalf("output %q: %v", r.stdout, err)
	}
	if got["value_base64"] != "//5h" || got["rev"] != 7.0 || got["key"] != "bin" {
		t.Errorf("kv get -o json of a binary value = %s", r.stdout)
	}
	if r := runKV("", "get", "bin", "--endpoints", f.srv.URL); r.stdout != "\xff\xfea" {
		t.Errorf("kv get of a binary value printed %q, want the raw bytes", r.stdout)
	}
}

func TestKVFlagOrder(t *testing.T) {
	f := newCLIFake(t, "1")
	orders := [][]string{
		{"put", "--endpoints", f.srv.URL, "-o", "json", "k", "v"},
		{"put", "k", "v", "--endpoints", f.srv.URL, "-o", "json"},
		{"put", "k", "--endpoints", f.srv.URL, "v", "--output=json"},
		{"put", "-o", "json", "k", "--endpoints=" + f.srv.URL, "v", "--timeout", "3s"},
	}
	for i, args := range orders {
		r := runKV("", args...)
		want := `{"rev":` + strconv.Itoa(i+1) + "}\n"
		if r.code != 0 || r.stdout != want {
			t.Errorf("kv %q = %+v, want %q", args, r, want)
		}
		if got := string(f.data["k"].value); got != "v" {
			t.Errorf("kv %q stored %q", args, got)
		}
	}
	// A key that starts with "-", after "--".
	f.data["-k"] = cliEntry{[]byte("dash"), 1}
	if r := runKV("", "get", "--endpoints", f.srv.URL, "--", "-k"); r.code != 0 || r.stdout != "dash" {
		t.Errorf("kv get -- -k = %+v", r)
	}
	// Flags after "--" are arguments.
	if r := runKV("", "get", "--endpoints", f.srv.URL, "--", "-k", "-o"); r.code != 2 {
		t.Errorf("kv get -- -k -o = %+v, want a usage error (two keys)", r)
	}
}

func TestKVConditions(t *testing.T) {
	f := newCLIFake(t, "1")
	ep := "--endpoints=" + f.srv.URL
	tests := []struct {
		args          []string
		code          int
		ifMatch, ifNM string
	}{
		{[]string{"put", ep, "--if-none-match", "*", "k", "v"}, 0, "", "*"},
		{[]string{"put", ep, "k", "v", "--if-none-match=*"}, 4, "", "*"},
		{[]string{"put", ep, "--if-match", "1", "k", "v2"}, 0, `"1"`, ""},
		{[]string{"put", ep, "--if-match", "1", "k", "v3"}, 4, `"1"`, ""},
		{[]string{"put", ep, "--if-match", `"3"`, "k", "v3"}, 0, `"3"`, ""}, // a failed condition takes a rev too
		{[]string{"put", ep, "--if-match", "*", "k", "v4"}, 0, "*", ""},
		{[]string{"delete", ep, "--if-match", "99", "k"}, 4, `"99"`, ""},
		{[]string{"delete", ep, "--if-none-match", "*", "k"}, 4, "", "*"},
		{[]string{"delete", ep, "k", "--if-match", "*"}, 0, "*", ""},
		{[]string{"put", ep, "--if-match", "*", "k", "v5"}, 4, "*", ""},
		{[]string{"put", ep, "k", "v6"}, 0, "", ""},
	}
	for _, tt := range tests {
		r := runKV("", tt.args...)
		if r.code != tt.code {
			t.Errorf("kv %q = %+v, want exit %d", tt.args, r, tt.code)
		}
		if tt.code == 4 && !strings.Contains(r.stderr, "condition failed") {
			t.Errorf("kv %q: stderr %q, want it to say the condition failed", tt.args, r.stderr)
		}
		req, _ := f.lastRequest(t)
		if req.Header.Get("If-Match") != tt.ifMatch || req.Header.Get("If-None-Match") != tt.ifNM {
			t.Errorf("kv %q sent If-Match %q If-None-Match %q, want %q %q", tt.args,
				req.Header.Get("If-Match"), req.Header.Get("If-None-Match"), tt.ifMatch, tt.ifNM)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	ep := "--endpoints=http://127.0.0.1:1"
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"nope"}, `unknown command "nope"`},
		{[]string{"get", ep}, "want KEY, got 0"},
		{[]string{"get", ep, "a", "b"}, "want KEY, got 2"},
		{[]string{"get", ep, ""}, "KEY must not be empty"},
		{[]string{"put", ep, "k"}, "want KEY VALUE, got 1"},
		{[]string{"delete", ep}, "want KEY"},
		{[]string{"get", ep, "-o", "yaml", "k"}, `-o "yaml"`},
		{[]string{"get", ep, "--timeout", "0s", "k"}, "--timeout"},
		{[]string{"get", ep, "--timeout", "soon", "k"}, "invalid value"},
		{[]string{"get", ep, "--bogus", "k"}, "flag provided but not defined: -bogus"},
		{[]string{"get", ep, "--if-match", "1", "k"}, "flag provided but not defined: -if-match"},
		{[]string{"put", ep, "--if-match", "abc", "k", "v"}, `--if-match "abc"`},
		{[]string{"put", ep, "--if-match", "0", "k", "v"}, `--if-match "0"`},
		{[]string{"put", ep, "--if-match", "1", "--if-none-match", "*", "k", "v"}, "cannot be combined"},
		{[]string{"delete", ep, "--if-none-match", "3", "k"}, "only * is supported"},
		{[]string{"get", "--endpoints", "ftp://x", "k"}, `"ftp://x"`},
		{[]string{"get", "--endpoints", ",", "k"}, "no endpoints"},
		{[]string{"get", "k", "--endpoints"}, "flag needs an argument"},
		{[]string{"list", ep, "a", "b"}, "want [PREFIX], got 2"},
		{[]string{"list", ep, "--limit", "0"}, "--limit 0: want 1 to 10000"},
		{[]string{"list", ep, "--limit", "10001"}, "--limit 10001: want 1 to 10000"},
		{[]string{"list", ep, "--limit", "-1"}, "--limit -1"},
		{[]string{"list", ep, "--if-match", "1"}, "flag provided but not defined: -if-match"},
		{[]string{"get", ep, "--all", "k"}, "flag provided but not defined: -all"},
		{[]string{"txn", ep, "a.json", "b.json"}, "want [FILE|-], got 2"},
		{[]string{"txn", ep, "--stale"}, "flag provided but not defined: -stale"},
		{[]string{"txn", ep, "--limit", "3"}, "flag provided but not defined: -limit"},
	}
	for _, tt := range tests {
		r := runKV("", tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("kv %q = %d, stdout %q, stderr %q; want exit 2 and stderr mentioning %q",
				tt.args, r.code, r.stdout, r.stderr, tt.want)
		}
	}
	for _, args := range [][]string{{"status", "extra"}, {"status", "-o", "xml"}, {"status", "--if-match", "1"}} {
		if r := runStatus(args[1:]...); r.code != 2 || r.stderr == "" {
			t.Errorf("%q = %+v, want exit 2 with a message", args, r)
		}
	}
}

func TestCLIHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"get", "-h"}, {"put", "--help"}, {"delete", "-h", "k"},
		{"list", "-h"}, {"txn", "--help"}, {"txn", "-h", "file.json"}} {
		r := runKV("", args...)
		if r.code != 0 || !strings.Contains(r.stdout, "Usage") || !strings.Contains(r.stdout, "Exit status") {
			t.Errorf("kv %q = %+v, want exit 0 and the usage on stdout", args, r)
		}
	}
	r := runKV("", "put", "-h")
	for _, want := range []string{"-endpoints", "-o format", "-output format", "-timeout", "-if-match REV", "-if-none-match", "stdin"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("kv put -h does not mention %q:\n%s", want, r.stdout)
		}
	}
	mentions := map[string][]string{
		"list -h": {"Usage: rsml-node kv list [PREFIX] [flags]", "-limit N", "-start-after KEY", "-all", "-stale",
			"not one snapshot", "KEY = VALUE (rev=R)", `"more"`, "Go-quoted"},
		"txn -h": {"Usage: rsml-node kv txn [FILE|-] [flags]", `"value_base64"`, `"key_base64"`, `"exists"`,
			"succeeded rev=N", "failed rev=N", "exit status is 0 either way", "not retried", "then[2]"},
		"--help": {"kv list [PREFIX]", "kv txn [FILE|-]", "kv txn: also when its conditions did not hold",
			"kv put/delete/txn: outcome unknown", "malformed transaction"},
	}
	for args, wants := range mentions {
		r := runKV("", strings.Fields(args)...)
		for _, want := range wants {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("kv %s does not mention %q:\n%s", args, want, r.stdout)
			}
		}
	}
	var top strings.Builder
	if run([]string{"help"}, strings.NewReader(""), &top, io.Discard); !strings.Contains(top.String(), "rsml-node kv list [PREFIX]") ||
		!strings.Contains(top.String(), "rsml-node kv txn [FILE|-]") {
		t.Errorf("rsml-node help does not name kv list and kv txn:\n%s", top.String())
	}
	if r := runStatus("-h"); r.code != 0 || !strings.Contains(r.stdout, "Usage: rsml-node status") {
		t.Errorf("status -h = %+v", r)
	}
}

func TestKVServerErrors(t *testing.T) {
	fastRetries(t)
	f := newCLIFake(t, "1")
	ep := "--endpoints=" + f.srv.URL
	tests := []struct {
		name   string
		canned []http.HandlerFunc
		args   []string
		code   int
		want   string
	}{
		{"504 put", []http.HandlerFunc{cliCanned(504, "indeterminate")}, []string{"put", ep, "k", "v"}, 5,
			"outcome unknown: the write may or may not have been applied"},
		{"504 delete", []http.HandlerFunc{cliCanned(504, "indeterminate")}, []string{"delete", ep, "k"}, 5,
			"outcome unknown"},
		{"500 put", []http.HandlerFunc{cliCanned(500, "internal")}, []string{"put", ep, "k", "v"}, 5,
			"outcome unknown"},
		{"413", []http.HandlerFunc{cliCanned(413, "too_large")}, []string{"put", ep, "k", "v"}, 1, "canned too_large"},
		{"400", []http.HandlerFunc{cliCanned(400, "bad_request")}, []string{"get", ep, "k"}, 1, "canned bad_request"},
		{"503 always", []http.HandlerFunc{cliCanned(503, "no_leader"), cliCanned(503, "no_leader"), cliCanned(503, "no_leader")},
			[]string{"put", ep, "k", "v"}, 1, "canned no_leader"},
		{"503 then ok", []http.HandlerFunc{cliCanned(503, "no_leader")}, []string{"put", ep, "k", "v"}, 0, ""},
		{"504 get is retried", []http.HandlerFunc{cliCanned(504, "indeterminate")}, []string{"get", ep, "k"}, 0, ""},
	}
	for _, tt := range tests {
		f.data["k"] = cliEntry{[]byte("v"), 1}
		f.then(tt.canned...)
		r := runKV("", tt.args...)
		if r.code != tt.code || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%s: kv %q = %d, stderr %q; want exit %d and stderr mentioning %q", tt.name, tt.args, r.code, r.stderr, tt.code, tt.want)
		}
		if tt.code != 0 && !strings.HasPrefix(r.stderr, "rsml-node: ") {
			t.Errorf("%s: stderr %q lacks the rsml-node: prefix", tt.name, r.stderr)
		}
		f.mu.Lock()
		left := len(f.script)
		f.script = nil
		f.mu.Unlock()
		if left != 0 {
			t.Errorf("%s: %d canned answers left unused", tt.name, left)
		}
	}
}

func TestKVAllEndpointsDown(t *testing.T) {
	fastRetries(t)
	eps := "--endpoints=" + cliDownURL(t) + "," + cliDownURL(t)
	for _, args := range [][]string{{"get", eps, "k"}, {"put", eps, "k", "v"}, {"delete", eps, "k"}} {
		r := runKV("", args...)
		if r.code != 1 || !strings.HasPrefix(r.stderr, "rsml-node: ") || strings.Contains(r.stderr, "outcome unknown") {
			t.Errorf("kv %q with every endpoint down = %+v; want exit 1 (a refused connection sent nothing)", args, r)
		}
	}
}

func TestKVTimeout(t *testing.T) {
	f := newCLIFake(t, "1")
	f.then(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	start := time.Now()
	r := runKV("", "put", "--timeout", "100ms", "--endpoints", f.srv.URL, "k", "v")
	if r.code != 5 || !strings.Contains(r.stderr, "outcome unknown") {
		t.Errorf("kv put that times out = %+v, want exit 5, outcome unknown", r)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("kv put --timeout 100ms took %v", d)
	}
}

func TestStatusCommand(t *testing.T) {
	fastRetries(t)
	a, b := newCLIFake(t, "1"), newCLIFake(t, "2")
	down := cliDownURL(t)

	r := runStatus("--endpoints", a.srv.URL+","+b.srv.URL)
	if r.code != 0 || r.stderr != "" {
		t.Fatalf("status = %+v", r)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID LEADER IS_LEADER BALLOT COMMIT APPLIED ENDPOINT" {
		t.Fatalf("status printed:\n%s", r.stdout)
	}
	if got, want := strings.Join(strings.Fields(lines[1]), " "), "1 1 true 4.1 0 0 "+a.srv.URL; got != want {
		t.Errorf("status row %q, want %q", got, want)
	}
	if got, want := strings.Join(strings.Fields(lines[2]), " "), "2 1 false 4.1 0 0 "+b.srv.URL; got != want {
		t.Errorf("status row %q, want %q", got, want)
	}

	r = runStatus("--endpoints", a.srv.URL+","+down, "-o", "json")
	if r.code != 1 || !strings.Contains(r.stderr, "1 of 2 endpoints did not answer") {
		t.Errorf("status with an endpoint down = %+v, want exit 1", r)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("status -o json printed %q: %v", r.stdout, err)
	}
	if len(rows) != 2 || rows[0]["id"] != "1" || rows[0]["is_leader"] != true || rows[0]["endpoint"] != a.srv.URL ||
		rows[0]["ballot"] != "4.1" || rows[0]["commit_seq"] != 0.0 || rows[0]["applied_seq"] != 0.0 || rows[0]["peers"] == nil ||
		rows[0]["error"] != nil || rows[1]["endpoint"] != down || rows[1]["error"] == nil || rows[1]["id"] != nil {
		t.Errorf("status -o json = %s", r.stdout)
	}

	r = runStatus("--endpoints", down+","+a.srv.URL)
	if r.code != 1 || !strings.Contains(r.stdout, "ERROR") || !strings.Contains(r.stdout, down) {
		t.Errorf("status text with an endpoint down = %+v", r)
	}
}

// cliCluster is a real in-process cluster behind one HTTP server per
// replica: kv txn and kv list are checked against the server's own
// semantics (revs, branches, paging) rather than a fake's copy of them.
type cliCluster struct {
	c      *node.Cluster
	urls   []string // one per replica
	leader string   // the URL of the replica that led when the cluster started

	mu       sync.Mutex
	requests []*url.URL // every request but /v1/status, in order
}

func startCLICluster(t *testing.T) *cliCluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seed := time.Now().UnixNano()
	t.Logf("cluster seed %d", seed)
	c, err := node.StartCluster(ctx, node.ClusterConfig{Nodes: 3, Seed: seed,
		Template: node.Config{Logger: slog.New(slog.DiscardHandler)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := c.Stop(ctx); err != nil {
			t.Errorf("stop cluster: %v", err)
		}
	})
	leader, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cc := &cliCluster{c: c}
	for _, n := range c.Nodes() {
		h := n.Handler(node.HTTPConfig{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/v1/status" {
				cc.mu.Lock()
				cc.requests = append(cc.requests, r.URL)
				cc.mu.Unlock()
			}
			h.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close) // before the cluster stops: cleanups run last first
		cc.urls = append(cc.urls, srv.URL)
		if n.ID() == leader.ID() {
			cc.leader = srv.URL
		}
	}
	return cc
}

func (cc *cliCluster) endpoints() string { return "--endpoints=" + strings.Join(cc.urls, ",") }

// listRequests returns the queries of the GET /v1/kv listings since the
// last call.
func (cc *cliCluster) listRequests() []url.Values {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	var out []url.Values
	for _, u := range cc.requests {
		if u.Path == "/v1/kv" || u.Path == "/v1/kv/" {
			out = append(out, u.Query())
		}
	}
	cc.requests = nil
	return out
}

// mustKV runs a kv command that must succeed.
func mustKV(t *testing.T, stdin string, args ...string) cliResult {
	t.Helper()
	r := runKV(stdin, args...)
	if r.code != 0 {
		t.Fatalf("kv %q = %+v", args, r)
	}
	return r
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// decodeAny decodes JSON for a comparison that ignores field order.
func decodeAny(t *testing.T, what string, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, b, err)
	}
	return v
}

// httpGetBody fetches a URL of the API directly, as curl would.
func httpBody(t *testing.T, method, u, body string) []byte {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %q %v", method, u, resp.StatusCode, b, err)
	}
	return b
}

func TestKVTxn(t *testing.T) {
	cc := startCLICluster(t)
	ep := cc.endpoints()
	mustKV(t, "", "put", ep, "a", "1") // rev 1
	mustKV(t, "", "put", ep, "b", "2") // rev 2
	body := `{"if": [{"key": "a", "rev": 1}, {"key": "c", "exists": false}],
	  "then": [{"op": "put", "key": "a", "value": "10"}, {"op": "delete", "key": "b"},
	           {"op": "put", "key": "c", "value_base64": "/w=="}, {"op": "get", "key": "a"},
	           {"op": "get", "key": "c"}, {"op": "get", "key": "b"}],
	  "else": [{"op": "get", "key": "a"}]}`
	file := writeTemp(t, "txn.json", body)
	steps := []struct {
		name   string
		stdin  string
		args   []string
		stdout string
	}{
		{"from a file: the conditions hold, then runs; a get sees the ops before it", "", []string{"txn", ep, file},
			"succeeded rev=3\nput a rev=3\ndelete b rev=3 deleted=true\nput c rev=3\n" +
				"get a = 10 (rev=3)\nget c = \"\\xff\" (rev=3)\nget b: not found\n"},
		{"from stdin, no FILE: the conditions fail now, else runs, at its own rev", body, []string{"txn", ep},
			"failed rev=4\nget a = 10 (rev=3)\n"},
		{"from stdin by -, flags after it", `{"if": [{"key": "a", "exists": true}],
			"then": [{"op": "delete", "key": "zz"}, {"op": "put", "key": "nl", "value": "x\ny"}]}`,
			[]string{"txn", "-", ep}, "succeeded rev=5\ndelete zz rev=5 deleted=false\nput nl rev=5\n"},
		{"read-only: no rev taken; a binary key", `{"then": [{"op": "get", "key": "nl"}, {"op": "get", "key_base64": "/w=="}]}`,
			[]string{"txn", ep}, "succeeded rev=5\nget nl = \"x\\ny\" (rev=5)\nget \"\\xff\": not found\n"},
		{"empty: the store's last rev", "{}", []string{"txn", ep}, "succeeded rev=5\n"},
		{"a failed branch with no ops", `{"if": [{"key": "a", "exists": false}], "else": []}`, []string{"txn", ep, "-"},
			"failed rev=5\n"},
	}
	for _, s := range steps {
		r := runKV(s.stdin, s.args...)
		if r.code != 0 || r.stdout != s.stdout || r.stderr != "" {
			t.Errorf("%s: kv %q = %d\nstdout %q\nstderr %q\nwant 0 and stdout %q", s.name, s.args, r.code, r.stdout, r.stderr, s.stdout)
		}
	}
	// What the transactions left, through kv get.
	for key, want := range map[string]string{"a": "10", "c": "\xff", "nl": "x\ny"} {
		if r := runKV("", "get", ep, key); r.code != 0 || r.stdout != want {
			t.Errorf("kv get %s = %+v, want %q", key, r, want)
		}
	}
	if r := runKV("", "get", ep, "b"); r.code != 3 {
		t.Errorf("kv get b after the txn deleted it = %+v, want exit 3", r)
	}
}

func TestKVTxnJSON(t *testing.T) {
	cc := startCLICluster(t)
	ep := cc.endpoints()
	mustKV(t, "", "put", ep, "a", "1") // rev 1
	r := mustKV(t, `{"if": [{"key": "a", "rev": 1}],
	  "then": [{"op": "put", "key": "a", "value": "2"}, {"op": "put", "key_base64": "/wA=", "value_base64": "//4="},
	           {"op": "delete", "key": "a"}, {"op": "get", "key_base64": "/wA="}, {"op": "get", "key": "a"}]}`,
		"txn", ep, "-o", "json")
	want := `{"rev": 2, "succeeded": true, "results": [{"rev": 2}, {"rev": 2}, {"rev": 2, "deleted": true},
	  {"found": true, "key_base64": "/wA=", "value_base64": "//4=", "rev": 2}, {"found": false, "key": "a"}]}`
	if got := decodeAny(t, "kv txn -o json", []byte(r.stdout)); !reflect.DeepEqual(got, decodeAny(t, "want", []byte(want))) {
		t.Errorf("kv txn -o json = %s, want %s", r.stdout, want)
	}
	if strings.Count(r.stdout, "\n") != 1 {
		t.Errorf("kv txn -o json printed %q, want one line", r.stdout)
	}
	// A read-only transaction takes no rev, so the server answers the same
	// body the same: -o json must print exactly its answer.
	body := `{"if": [{"key": "a", "exists": false}], "then": [{"op": "get", "key": "a"}, {"op": "get", "key_base64": "/wA="}]}`
	mustKV(t, "", "put", ep, "text", "héllo <&>")
	body2 := `{"then": [{"op": "get", "key": "text"}]}`
	for _, b := range []string{body, body2, `{}`} {
		r := mustKV(t, b, "txn", ep, "-o", "json")
		direct := httpBody(t, http.MethodPost, cc.urls[0]+"/v1/txn", b)
		if got, want := decodeAny(t, "kv txn -o json", []byte(r.stdout)), decodeAny(t, "POST /v1/txn", direct); !reflect.DeepEqual(got, want) {
			t.Errorf("kv txn -o json of %s printed %s; the server answers %s", b, r.stdout, direct)
		}
	}
}

func TestKVTxnMalformed(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		requests.Add(1)
		cliJSON(w, http.StatusOK, map[string]any{"rev": 1, "succeeded": true, "results": []any{map[string]any{"rev": 1}}})
	}))
	t.Cleanup(srv.Close)
	ep := "--endpoints=" + srv.URL
	many := `{"then": [` + strings.Repeat(`{"op": "get", "key": "k"},`, 1024) + `{"op": "get", "key": "k"}]}`
	tests := []struct {
		body string
		want string
	}{
		{"", "stdin: empty input"},
		{"  \n", "stdin: empty input"},
		{"null", "want a JSON object"},
		{`[{"op": "put"}]`, "want a JSON object"},
		{`{"then": [`, "unexpected end of input"},
		{"{\n  \"then\": [\n    {\"op\": \"get\" \"key\": \"a\"}\n  ]\n}", "line 3, column 18: invalid character '\"' after object key:value pair"},
		{`{} {}`, "line 1, column 4: data after the JSON object"},
		{`{"iff": []}`, `unknown field "iff"`},
		{`{"then": {"op": "get", "key": "a"}}`, `"then": want an array, got object`},
		{`{"then": [{"op": "put", "key": "a"}]}`, `then[0]: a put needs "value" or "value_base64"`},
		{`{"then": [{"op": "get", "key": "a"}, {"op": "get", "key": "a"},
		   {"op": "put", "key": "a", "value": "x", "value_base64": "eA=="}]}`, `then[2]: give "value" or "value_base64", not both`},
		{`{"then": [{"op": "put", "key": "a", "vaule": "x"}]}`, `then[0]: unknown field "vaule"`},
		{`{"else": [{"op": "frob", "key": "a"}]}`, `else[0]: "op" must be put, delete or get, not "frob"`},
		{`{"else": [{"key": "a"}]}`, `else[0]: missing "op"`},
		{`{"then": [null]}`, `then[0]: want an object, got null`},
		{`{"then": [{"op": "get"}]}`, `then[0]: missing "key"`},
		{`{"then": [{"op": "get", "key": ""}]}`, `then[0]: empty key`},
		{`{"then": [{"op": "get", "key": "a", "key_base64": "YQ=="}]}`, `then[0]: give "key" or "key_base64", not both`},
		{`{"then": [{"op": "put", "key_base64": "!!", "value": "x"}]}`, `then[0]: "key_base64": illegal base64`},
		{`{"then": [{"op": "put", "key": 5, "value": "x"}]}`, `then[0]: "key": want a string, got number`},
		{`{"then": [{"op": "delete", "key": "a", "value": "x"}]}`, `then[0]: a delete has no value`},
		{`{"then": [{"op": "get", "key": "a", "value_base64": ""}]}`, `then[0]: a get has no value`},
		{`{"if": [{"key": "a"}]}`, `if[0]: a condition has exactly one of "rev" and "exists"`},
		{`{"if": [{"key": "a", "rev": 1}, {"key": "a", "rev": 1, "exists": true}]}`, `if[1]: a condition has exactly one`},
		{`{"if": [{"key": "a", "rev": -1}]}`, `if[0]: "rev": want a rev (an integer, 0 or more), got number -1`},
		{`{"if": [{"key": "a", "exists": "yes"}]}`, `if[0]: "exists": want true or false, got string`},
		{`{"if": [{"rev": 3}]}`, `if[0]: missing "key"`},
		{many, "then: 1025 operations, at most 1024"},
	}
	for _, tt := range tests {
		for _, args := range [][]string{{"txn", ep}, {"txn", "-", ep}} {
			r := runKV(tt.body, args...)
			if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, tt.want) ||
				!strings.HasPrefix(r.stderr, "rsml-node kv txn: stdin: ") || !strings.Contains(r.stderr, "kv txn -h") {
				t.Errorf("kv %q of %.80q = %d, stdout %q, stderr %q; want exit 2 and stderr mentioning %q",
					args, tt.body, r.code, r.stdout, r.stderr, tt.want)
			}
		}
	}
	file := writeTemp(t, "bad.json", `{"then": [{"op": "put", "key": "a"}]}`)
	if r := runKV("", "txn", ep, file); r.code != 2 || !strings.Contains(r.stderr, file+`: then[0]: a put needs`) {
		t.Errorf("kv txn of a malformed file = %+v, want exit 2 naming the file and the place", r)
	}
	missing := filepath.Join(t.TempDir(), "nope.json")
	if r := runKV("", "txn", ep, missing); r.code != 1 || !strings.Contains(r.stderr, missing) || !strings.HasPrefix(r.stderr, "rsml-node: ") {
		t.Errorf("kv txn of a missing file = %+v, want exit 1 naming the file", r)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("malformed transactions sent %d requests, want none", n)
	}
	// The same server takes a well-formed one: the cases above failed for
	// their content, not for the endpoint.
	if r := runKV(`{"then": [{"op": "put", "key": "a", "value": ""}]}`, "txn", ep); r.code != 0 || r.stdout != "succeeded rev=1\nput a rev=1\n" {
		t.Errorf("kv txn of a good transaction = %+v", r)
	}
}

// txnFake serves /v1/status (saying whether it leads) and /v1/txn with
// the given handler, counting the transactions that reach it.
func txnFake(t *testing.T, leads bool, txn http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status":
			cliJSON(w, http.StatusOK, map[string]any{"id": "1", "leader": "1", "is_leader": leads, "ballot": "1.1"})
		case "/v1/txn":
			n.Add(1)
			txn(w, r)
		default:
			cliJSON(w, http.StatusNotFound, map[string]string{"error": "no such path", "code": "not_found"})
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// hangUp reads the whole request, then closes the connection without an
// answer: the request reached the server and may have been applied.
func hangUp(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
	}
}

func TestKVTxnRetries(t *testing.T) {
	fastRetries(t)
	const write = `{"then": [{"op": "put", "key": "a", "value": "1"}]}`
	const read = `{"if": [{"key": "a", "exists": true}], "then": [{"op": "get", "key": "a"}], "else": [{"op": "get", "key": "b"}]}`
	answer := func(w http.ResponseWriter, r *http.Request) {
		var t map[string]any
		_ = json.NewDecoder(r.Body).Decode(&t)
		if _, reads := t["else"]; reads {
			cliJSON(w, http.StatusOK, map[string]any{"rev": 7, "succeeded": false, "results": []any{map[string]any{"found": false, "key": "b"}}})
			return
		}
		cliJSON(w, http.StatusOK, map[string]any{"rev": 8, "succeeded": true, "results": []any{map[string]any{"rev": 8}}})
	}
	tests := []struct {
		name        string
		first       http.HandlerFunc // the leader's answer; the other replica answers
		body        string
		code        int
		stdout      string
		stderr      string
		firstN, ndN int32 // transactions that reached each replica
	}{
		{"a write the leader hung up on is not retried", hangUp, write, 5, "", "outcome unknown", 1, 0},
		{"a write answered 504 is not retried", cliCanned(504, "indeterminate"), write, 5, "", "outcome unknown", 1, 0},
		{"a write answered 503 was not applied: retried", cliCanned(503, "no_leader"), write, 0, "succeeded rev=8\nput a rev=8\n", "", 1, 1},
		{"a read-only txn the leader hung up on is retried", hangUp, read, 0, "failed rev=7\nget b: not found\n", "", 1, 1},
		{"a read-only txn answered 504 is retried", cliCanned(504, "indeterminate"), read, 0, "failed rev=7\nget b: not found\n", "", 1, 1},
	}
	for _, tt := range tests {
		first, firstN := txnFake(t, true, tt.first)
		second, secondN := txnFake(t, false, answer)
		r := runKV(tt.body, "txn", "--endpoints", first.URL+","+second.URL)
		if r.code != tt.code || r.stdout != tt.stdout || !strings.Contains(r.stderr, tt.stderr) {
			t.Errorf("%s: kv txn = %d, stdout %q, stderr %q; want %d, %q, stderr mentioning %q",
				tt.name, r.code, r.stdout, r.stderr, tt.code, tt.stdout, tt.stderr)
		}
		if tt.code == 5 && !strings.Contains(r.stderr, "was not retried; read the keys it writes") {
			t.Errorf("%s: stderr %q does not say what to do", tt.name, r.stderr)
		}
		if a, b := firstN.Load(), secondN.Load(); a != tt.firstN || b != tt.ndN {
			t.Errorf("%s: the transaction reached the leader %d times and the other replica %d times, want %d and %d",
				tt.name, a, b, tt.firstN, tt.ndN)
		}
	}
}

func TestKVList(t *testing.T) {
	cc := startCLICluster(t)
	ep := cc.endpoints()
	mustKV(t, "", "put", ep, "a", "A")                                                      // rev 1
	mustKV(t, "", "put", ep, "b/1", "one")                                                  // rev 2
	mustKV(t, "", "put", ep, "b/2", "two")                                                  // rev 3
	mustKV(t, "", "put", ep, "b/3", "three")                                                // rev 4
	mustKV(t, "", "put", ep, "b/4", "x\ny")                                                 // rev 5
	mustKV(t, `{"then": [{"op": "put", "key": "b/5", "value_base64": "/w=="}]}`, "txn", ep) // rev 6
	mustKV(t, "", "put", ep, "c", "C")                                                      // rev 7
	lines := []string{"a = A (rev=1)", "b/1 = one (rev=2)", "b/2 = two (rev=3)", "b/3 = three (rev=4)",
		`b/4 = "x\ny" (rev=5)`, `b/5 = "\xff" (rev=6)`, "c = C (rev=7)"}
	join := func(ls ...string) string { return strings.Join(ls, "\n") + "\n" }
	b := lines[1:6]
	cc.listRequests()
	steps := []struct {
		args       []string
		stdout     string
		stderr     string   // exact
		startAfter []string // the start_after of each request
	}{
		{[]string{"list", ep, "b/"}, join(b...), "", []string{""}},
		{[]string{"list", ep, "b/", "--limit", "2"}, join(b[:2]...),
			"rsml-node: kv list: more keys follow; for the next page add --start-after=b/2 (or --all for every key)\n", []string{""}},
		{[]string{"list", ep, "--limit", "2", "--start-after", "b/2", "b/"}, join(b[2:4]...),
			"rsml-node: kv list: more keys follow; for the next page add --start-after=b/4 (or --all for every key)\n", []string{"b/2"}},
		{[]string{"list", ep, "b/", "--limit=2", "--start-after=b/4"}, join(b[4]), "", []string{"b/4"}},
		{[]string{"list", ep, "b/", "--limit", "2", "--all"}, join(b...), "", []string{"", "b/2", "b/4"}},
		{[]string{"list", ep, "--all", "--limit", "3"}, join(lines...), "", []string{"", "b/2", "b/5"}},
		{[]string{"list", ep, "--all", "--limit", "2", "--start-after", "b/3"}, join(lines[4:]...), "", []string{"b/3", "b/5"}},
		{[]string{"list", ep}, join(lines...), "", []string{""}},
		{[]string{"list", ep, ""}, join(lines...), "", []string{""}},
		{[]string{"list", ep, "zz"}, "", "", []string{""}},
		{[]string{"list", ep, "--all", "zz"}, "", "", []string{""}},
	}
	for _, s := range steps {
		r := runKV("", s.args...)
		if r.code != 0 || r.stdout != s.stdout || r.stderr != s.stderr {
			t.Errorf("kv %q = %d\nstdout %q\nstderr %q\nwant 0, stdout %q, stderr %q", s.args, r.code, r.stdout, r.stderr, s.stdout, s.stderr)
		}
		var got []string
		for _, q := range cc.listRequests() {
			got = append(got, q.Get("start_after"))
			if q.Get("consistency") != "" {
				t.Errorf("kv %q sent consistency=%s", s.args, q.Get("consistency"))
			}
		}
		if !reflect.DeepEqual(got, s.startAfter) {
			t.Errorf("kv %q asked for pages after %q, want %q", s.args, got, s.startAfter)
		}
	}

	// -o json prints the server's answer; with --all, every page's items.
	direct := func(query string) any {
		return decodeAny(t, query, httpBody(t, http.MethodGet, cc.urls[0]+"/v1/kv?"+query, ""))
	}
	for _, tt := range []struct {
		args  []string
		query string
	}{
		{[]string{"list", ep, "b/", "--limit", "2", "-o", "json"}, "prefix=b/&limit=2"},
		{[]string{"list", ep, "b/", "--limit", "2", "--all", "-o", "json"}, "prefix=b/"},
		{[]string{"list", ep, "--limit", "3", "--all", "--output=json"}, ""},
		{[]string{"list", ep, "zz", "-o", "json"}, "prefix=zz"},
	} {
		r := runKV("", tt.args...)
		if r.code != 0 || strings.Count(r.stdout, "\n") != 1 {
			t.Errorf("kv %q = %+v, want one line of JSON", tt.args, r)
			continue
		}
		if got, want := decodeAny(t, "kv list -o json", []byte(r.stdout)), direct(tt.query); !reflect.DeepEqual(got, want) {
			t.Errorf("kv %q printed %s; GET /v1/kv?%s answers %v", tt.args, r.stdout, tt.query, want)
		}
	}
	var page struct {
		Items []map[string]any
		More  bool
	}
	r := runKV("", "list", ep, "b/", "--limit", "2", "-o", "json")
	if err := json.Unmarshal([]byte(r.stdout), &page); err != nil || len(page.Items) != 2 || !page.More ||
		!strings.Contains(r.stderr, "--start-after=b/2") {
		t.Errorf("kv list --limit 2 -o json = %+v, want 2 items, more, and the hint on stderr", r)
	}

	// --stale asks for the local copy; the leader applied every write it
	// acknowledged, so its copy has them all.
	cc.listRequests()
	if r := runKV("", "list", "--stale", "--endpoints", cc.leader, "b/"); r.code != 0 || r.stdout != join(b...) {
		t.Errorf("kv list --stale = %+v, want %q", r, join(b...))
	}
	if qs := cc.listRequests(); len(qs) != 1 || qs[0].Get("consistency") != "stale" {
		t.Errorf("kv list --stale sent %v, want one request with consistency=stale", qs)
	}
}

func TestKVListBrokenServer(t *testing.T) {
	// A server that says "more" but answers the same page again: --all must
	// stop with an error, not ask forever.
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/status":
			cliJSON(w, http.StatusOK, map[string]any{"id": "1", "leader": "1", "is_leader": true})
		default:
			if requests.Add(1) > 3 { // a CLI that keeps asking: stop it, the count tells
				cliCanned(http.StatusBadRequest, "bad_request")(w, r)
				return
			}
			cliJSON(w, http.StatusOK, map[string]any{"rev": 3, "more": true,
				"items": []any{map[string]any{"key": "k", "value_base64": "", "value": "", "rev": 2}}})
		}
	}))
	t.Cleanup(srv.Close)
	r := runKV("", "list", "--all", "--endpoints", srv.URL)
	if r.code != 1 || r.stdout != "k = \"\" (rev=2)\n" || !strings.Contains(r.stderr, `key "k", is not after "k"`) ||
		!strings.Contains(r.stderr, "stopped after 1 keys; to go on: --start-after=k") {
		t.Errorf("kv list --all of a server that repeats its page = %+v", r)
	}
	if n := requests.Load(); n != 2 {
		t.Errorf("kv list --all asked %d times, want 2", n)
	}
}

func TestCLIShow(t *testing.T) {
	show := map[string]string{
		"plain":     "plain",
		"héllo <&>": "héllo <&>",
		"a b":       "a b",
		"":          `""`,
		" a":        `" a"`,
		"a\n":       `"a\n"`,
		"tab\there": `"tab\there"`,
		"\xff\x00":  `"\xff\x00"`,
		`"quoted"`:  `"\"quoted\""`,
		"a = b":     "a = b",
	}
	for in, want := range show {
		if got := cliShow([]byte(in)); got != want {
			t.Errorf("cliShow(%q) = %s, want %s", in, got, want)
		}
	}
	quote := map[string]string{
		"b/2":     "b/2",
		"a=b,c@d": "a=b,c@d",
		"a b":     "'a b'",
		"it's":    `'it'\''s'`,
		"$HOME":   "'$HOME'",
		"":        "''",
		"é":       "'é'",
	}
	for in, want := range quote {
		if got := cliShellQuote(in); got != want {
			t.Errorf("cliShellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
