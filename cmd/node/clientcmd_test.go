package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/client"
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
	for _, args := range [][]string{{"help"}, {"--help"}, {"get", "-h"}, {"put", "--help"}, {"delete", "-h", "k"}} {
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
