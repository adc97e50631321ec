package client

import (
	"crypto/tls"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// checkTxnJSON fails unless what appendTxnJSON writes for t reads back, with
// encoding/json, as what encoding/json's own Marshal wrote.
func checkTxnJSON(t *testing.T, txn Txn) {
	t.Helper()
	out, err := txn.toJSON()
	if err != nil {
		t.Fatal(err)
	}
	got := appendTxnJSON(nil, &out)
	ref, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	var back, want txnJSON
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatalf("%s is not JSON: %v", got, err)
	}
	if err := json.Unmarshal(ref, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, want) {
		t.Fatalf("wrote %s, reads back as %+v; encoding/json wrote %s", got, back, ref)
	}
}

var awkward = []string{"", "a", `"`, `\`, "a\"b\\c", "\n\r\t\b\f\x00\x1f", "<>&", "é ü 日本", "\u2028\u2029", "\x7f", "\xff\xfe", strings.Repeat("v", 300)}

func TestTxnJSONRoundTrips(t *testing.T) {
	checkTxnJSON(t, Txn{})
	for _, k := range awkward {
		for _, v := range awkward {
			checkTxnJSON(t, Txn{
				If:   []Compare{{Key: k, Cond: IfRev(7)}, {Key: k, Cond: IfExists()}, {Key: v, Cond: IfAbsent()}},
				Then: []Op{PutOp(k, []byte(v)), DeleteOp(v), GetOp(k)},
				Else: []Op{PutOp(v, []byte(k))},
			})
		}
	}
}

func FuzzTxnJSON(f *testing.F) {
	for _, s := range awkward {
		f.Add(s, []byte(s), uint64(3))
	}
	f.Fuzz(func(t *testing.T, key string, value []byte, rev uint64) {
		checkTxnJSON(t, Txn{If: []Compare{{Key: key, Cond: IfRev(rev)}}, Then: []Op{PutOp(key, value), GetOp(string(value))}})
	})
}

// replies are answers the fast reply decoder and encoding/json must agree
// on: what a server sends, and what it must hand over.
var replies = []string{
	`{"rev":12,"succeeded":true,"results":[{"rev":12},{"rev":12,"deleted":true},{"rev":12,"deleted":false}]}`,
	`{"rev":3,"succeeded":false,"results":[]}` + "\n",
	` { "rev" : 0 , "succeeded" : true , "results" : [ { "rev" : 1 } ] } `,
	`{"rev":18446744073709551615,"succeeded":true,"results":[]}`,
	`{"rev":18446744073709551616,"succeeded":true,"results":[]}`,
	`{"rev":7,"succeeded":true,"results":[{"found":true,"key":"a","value_base64":"YQ==","rev":3}]}`,
	`{"rev":7,"succeeded":true,"results":null}`,
	`{"rev":7,"rev":8,"succeeded":true,"results":[]}`,
	`{"REV":7,"succeeded":true,"results":[]}`,
	`{"rev":07,"succeeded":true,"results":[]}`,
	`{"rev":7.5,"succeeded":true,"results":[]}`,
	`{"rev":7,"succeeded":truex,"results":[]}`,
	`{"rev":7,"succeeded":true,"results":[{"rev":1},]}`,
	`{"rev":7,"succeeded":true,"results":[]}x`,
	`{}`,
	``,
}

func checkReply(t *testing.T, body []byte) {
	t.Helper()
	fast, ok := decodeTxnReplyFast(body)
	if !ok {
		return // encoding/json decides
	}
	var slow txnReplyJSON
	if err := json.Unmarshal(body, &slow); err != nil {
		t.Fatalf("%q: the fast decoder took what encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: fast %+v, encoding/json %+v", body, fast, slow)
	}
}

func TestTxnReplyFastAgrees(t *testing.T) {
	for _, b := range replies {
		checkReply(t, []byte(b))
	}
	for _, b := range replies[:4] {
		if _, ok := decodeTxnReplyFast([]byte(b)); !ok {
			t.Errorf("%q went to encoding/json", b)
		}
	}
}

func FuzzTxnReplyFast(f *testing.F) {
	for _, b := range replies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) { checkReply(t, body) })
}

// A token never goes in clear text to another machine, and with TLS a
// bare host:port means https.
func TestTokenNeedsHTTPS(t *testing.T) {
	if _, err := New([]string{"http://10.0.0.5:8001"}, WithToken("secret-token-0123456789")); err == nil ||
		!strings.Contains(err.Error(), "clear text") {
		t.Fatalf("a token over http to another machine: %v, want it refused", err)
	}
	if _, err := New([]string{"10.0.0.5:8001"}, WithToken("secret-token-0123456789")); err == nil {
		t.Fatal("a token to a bare remote host:port (http) accepted")
	}
	for _, ep := range []string{"http://127.0.0.1:8001", "localhost:8001", "https://10.0.0.5:8001"} {
		if _, err := New([]string{ep}, WithToken("secret-token-0123456789")); err != nil {
			t.Errorf("%s with a token: %v", ep, err)
		}
	}
	c, err := New([]string{"10.0.0.5:8001"}, WithTLS(&tls.Config{}), WithToken("secret-token-0123456789"))
	if err != nil || c.endpoints[0] != "https://10.0.0.5:8001" {
		t.Fatalf("with TLS, a bare host:port: %v, %v; want https", c, err)
	}
}
