package node

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rsml-go/rsml/kv"
)

// jsonBody decodes a response into a generic value for comparison with a
// literal written as the contract spells it.
func jsonBody(t *testing.T, r httpResp) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("status %d body %q: %v", r.code, r.body, err)
	}
	return v
}

func mustJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("test literal %s: %v", s, err)
	}
	return v
}

func TestHTTPTxn(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	f := tc.follower(l)
	srv := httptest.NewServer(f.Handler(HTTPConfig{})) // a follower: writes and reads are forwarded
	defer srv.Close()
	u := srv.URL
	post := func(body string) httpResp { return do(t, "POST", u+"/v1/txn", []byte(body)) }

	if r := do(t, "PUT", u+"/v1/kv/a", []byte("1")); r.code != 200 {
		t.Fatalf("PUT a: %d %s", r.code, r.body)
	}
	if r := do(t, "PUT", u+"/v1/kv/b", []byte("2")); r.code != 200 {
		t.Fatalf("PUT b: %d %s", r.code, r.body)
	}

	steps := []struct {
		name, body string
		want       string // the whole response, as JSON
	}{
		{"then: put, delete, get sees the put, binary value",
			`{"if": [{"key": "a", "rev": 1}, {"key": "c", "exists": false}],
			  "then": [{"op": "put", "key": "a", "value": "10"}, {"op": "delete", "key": "b"},
			           {"op": "put", "key": "c", "value_base64": "/w=="}, {"op": "get", "key": "a"}, {"op": "get", "key": "c"},
			           {"op": "get", "key": "b"}],
			  "else": [{"op": "get", "key": "a"}]}`,
			`{"rev": 3, "succeeded": true, "results": [{"rev": 3}, {"rev": 3, "deleted": true}, {"rev": 3},
			  {"found": true, "key": "a", "value": "10", "value_base64": "MTA=", "rev": 3},
			  {"found": true, "key": "c", "value_base64": "/w==", "rev": 3}, {"found": false, "key": "b"}]}`},
		{"else: a failed condition, the else branch runs at its own rev",
			`{"if": [{"key": "a", "rev": 1}], "then": [{"op": "delete", "key": "a"}],
			  "else": [{"op": "delete", "key": "zz"}, {"op": "get", "key": "a"}]}`,
			`{"rev": 4, "succeeded": false, "results": [{"rev": 4, "deleted": false},
			  {"found": true, "key": "a", "value": "10", "value_base64": "MTA=", "rev": 3}]}`},
		{"a failed branch without ops still takes a rev", `{"if": [{"key": "a", "exists": false}], "then": [{"op": "put", "key": "x", "value": ""}]}`,
			`{"rev": 5, "succeeded": false, "results": []}`},
		{"read-only: no rev taken, the store's last rev", `{"if": [{"key": "a", "exists": true}], "then": [{"op": "get", "key": "a"}]}`,
			`{"rev": 5, "succeeded": true, "results": [{"found": true, "key": "a", "value": "10", "value_base64": "MTA=", "rev": 3}]}`},
		{"empty: a read of the rev", `{}`, `{"rev": 5, "succeeded": true, "results": []}`},
		{"binary key", `{"then": [{"op": "put", "key_base64": "/wA=", "value": "v"}, {"op": "get", "key_base64": "/wA="}]}`,
			`{"rev": 6, "succeeded": true, "results": [{"rev": 6}, {"found": true, "key_base64": "/wA=", "value": "v", "value_base64": "dg==", "rev": 6}]}`},
	}
	for _, s := range steps {
		r := post(s.body)
		if r.code != 200 || !reflect.DeepEqual(jsonBody(t, r), mustJSON(t, s.want)) {
			t.Fatalf("%s: %d %s\nwant %s", s.name, r.code, r.body, s.want)
		}
	}
	if r := do(t, "GET", u+"/v1/kv/b", nil); r.code != 404 {
		t.Fatalf("b after the txn deleted it: %d", r.code)
	}
	if r := do(t, "GET", u+"/v1/kv/c", nil); r.code != 200 || string(r.body) != "\xff" || r.hdr.Get("ETag") != `"3"` {
		t.Fatalf("c: %d %q etag %s", r.code, r.body, r.hdr.Get("ETag"))
	}

	ops := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"op": "get", "key": "k"},`, n), ",") + "]"
	}
	conds := func(n int) string {
		return "[" + strings.TrimSuffix(strings.Repeat(`{"key": "k", "exists": true},`, n), ",") + "]"
	}
	refused := []struct {
		name, body string
		code       int
	}{
		{"not JSON", `{"then": [`, 400},
		{"unknown field", `{"then": [], "when": []}`, 400},
		{"unknown op field", `{"then": [{"op": "put", "key": "k", "value": "v", "ttl": 3}]}`, 400},
		{"trailing data", `{} {}`, 400},
		{"condition with rev and exists", `{"if": [{"key": "a", "rev": 3, "exists": true}]}`, 400},
		{"condition with neither", `{"if": [{"key": "a"}]}`, 400},
		{"negative rev", `{"if": [{"key": "a", "rev": -1}]}`, 400},
		{"unknown op", `{"then": [{"op": "incr", "key": "a"}]}`, 400},
		{"put without value", `{"then": [{"op": "put", "key": "a"}]}`, 400},
		{"get with value", `{"then": [{"op": "get", "key": "a", "value": "x"}]}`, 400},
		{"both value forms", `{"then": [{"op": "put", "key": "a", "value": "x", "value_base64": "eA=="}]}`, 400},
		{"bad base64", `{"then": [{"op": "put", "key": "a", "value_base64": "!!"}]}`, 400},
		{"empty key", `{"then": [{"op": "delete", "key": ""}]}`, 400},
		{"no key", `{"else": [{"op": "delete"}]}`, 400},
		{"key too long", `{"then": [{"op": "get", "key": "` + strings.Repeat("k", 1025) + `"}]}`, 400},
		{"too many then ops", `{"then": ` + ops(kv.MaxTxnOps+1) + `}`, 400},
		{"too many else ops", `{"else": ` + ops(kv.MaxTxnOps+1) + `}`, 400},
		{"too many conditions", `{"if": ` + conds(kv.MaxTxnCompares+1) + `}`, 400},
		{"value over the limit", `{"then": [{"op": "put", "key": "a", "value": "` + strings.Repeat("v", 1<<20+1) + `"}]}`, 413},
		{"body over the limit", `{"then": [` + strings.Repeat(`{"op": "put", "key": "a", "value": "`+strings.Repeat("v", 1<<20)+`"},`, 4) + `]}`, 413},
	}
	before := f.Status().Rev
	for _, s := range refused {
		r := post(s.body)
		if r.code != s.code {
			t.Errorf("%s: %d %s, want %d", s.name, r.code, r.body, s.code)
			continue
		}
		if code := r.errCode(t); (s.code == 400 && code != "bad_request") || (s.code == 413 && code != "too_large") {
			t.Errorf("%s: code %q", s.name, code)
		}
	}
	if r := post(`{"then": ` + ops(kv.MaxTxnOps) + `, "else": ` + ops(kv.MaxTxnOps) + `, "if": ` + conds(kv.MaxTxnCompares) + `}`); r.code != 200 {
		t.Errorf("at the limits: %d %s", r.code, r.body)
	}
	if r := post(`{"then": [{"op": "put", "key": "big", "value": "` + strings.Repeat("v", 1<<20) + `"}]}`); r.code != 200 {
		t.Errorf("a value at the limit: %d", r.code)
	}
	if after := tc.converge(); f.Status().Rev != before+1 {
		t.Errorf("refused transactions took revs: rev %d before, %d after (slot %d)", before, f.Status().Rev, after)
	}
	if r := do(t, "GET", u+"/v1/txn", nil); r.code != 405 {
		t.Errorf("GET /v1/txn: %d", r.code)
	}
}

func TestHTTPList(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	n := tc.Nodes()[0]
	srv := httptest.NewServer(n.Handler(HTTPConfig{}))
	defer srv.Close()
	u := srv.URL
	for i, k := range []string{"p/1", "p/2", "p/3", "q"} {
		if r := do(t, "PUT", u+"/v1/kv/"+k, []byte(fmt.Sprint(i))); r.code != 200 {
			t.Fatalf("PUT %s: %d", k, r.code)
		}
	}
	tx := `{"then": [{"op": "put", "key_base64": "` + base64.StdEncoding.EncodeToString([]byte("p/\xff")) + `", "value_base64": "/w=="}]}`
	if r := do(t, "POST", u+"/v1/txn", []byte(tx)); r.code != 200 {
		t.Fatalf("binary put: %d %s", r.code, r.body)
	}
	for _, c := range []struct {
		query, want string
	}{
		{"/v1/kv?prefix=p/&limit=2", `{"rev": 5, "more": true, "items": [
			{"key": "p/1", "value": "0", "value_base64": "MA==", "rev": 1}, {"key": "p/2", "value": "1", "value_base64": "MQ==", "rev": 2}]}`},
		{"/v1/kv/?prefix=p/&start_after=p/2", `{"rev": 5, "more": false, "items": [
			{"key": "p/3", "value": "2", "value_base64": "Mg==", "rev": 3}, {"key_base64": "cC//", "value_base64": "/w==", "rev": 5}]}`},
		{"/v1/kv?prefix=none", `{"rev": 5, "more": false, "items": []}`},
		{"/v1/kv?start_after=p/3&consistency=stale", `{"rev": 5, "more": false, "items": [
			{"key_base64": "cC//", "value_base64": "/w==", "rev": 5}, {"key": "q", "value": "3", "value_base64": "Mw==", "rev": 4}]}`},
	} {
		r := do(t, "GET", u+c.query, nil)
		if r.code != 200 || !reflect.DeepEqual(jsonBody(t, r), mustJSON(t, c.want)) {
			t.Errorf("%s: %d %s\nwant %s", c.query, r.code, r.body, c.want)
		}
	}
	if r := do(t, "GET", u+"/v1/kv", nil); r.code != 200 || len(jsonBody(t, r).(map[string]any)["items"].([]any)) != 5 {
		t.Errorf("no prefix lists every key: %d %s", r.code, r.body)
	}
	for _, q := range []string{"limit=0", "limit=10001", "limit=x", "consistency=fast"} {
		if r := do(t, "GET", u+"/v1/kv?"+q, nil); r.code != 400 || r.errCode(t) != "bad_request" {
			t.Errorf("%s: %d %s", q, r.code, r.body)
		}
	}
	if r := do(t, "PUT", u+"/v1/kv", []byte("x")); r.code != 405 {
		t.Errorf("PUT /v1/kv: %d", r.code)
	}
	if r := do(t, "PUT", u+"/v1/kv/", []byte("x")); r.code != 400 {
		t.Errorf("PUT /v1/kv/ (empty key): %d", r.code)
	}
}
