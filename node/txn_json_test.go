package node

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// txnBodies are request bodies the fast decoder and encoding/json must
// agree on: the forms clients send, and the ones it must hand over.
var txnBodies = []string{
	`{"then":[{"op":"put","key":"a","value":"1"}]}`,
	` {"if":[{"key":"a","rev":7},{"key_base64":"YQ==","exists":true},{"key":"b","exists":false}],` +
		`"then":[{"op":"put","key":"a","value_base64":"AAE="},{"op":"delete","key":"b"},{"op":"get","key":"c"}],` +
		`"else":[{"op":"get","key":"a"}]}` + "\n",
	`{"then":[],"else":[],"if":[]}`,
	`{}`,
	`{"then":[{"op":"put","key":"é","value":"ü"}]}`,
	`{"THEN":[{"op":"put","key":"a","value":"1"}]}`,
	`{"then":[{"op":"put","key":"a\n","value":"1"}]}`,
	`{"then":null}`,
	`{"then":[{"op":"put","key":"a","key":"b","value":"1"}]}`,
	`{"then":[{"op":"put","key":"a","value":"1"}],"then":[{"op":"get","key":"b"}]}`,
	`{"if":[{"key":"a","rev":18446744073709551615}],"then":[]}`,
	`{"if":[{"key":"a","rev":18446744073709551616}],"then":[]}`,
	`{"if":[{"key":"a","rev":01}],"then":[]}`,
	`{"if":[{"key":"a","rev":1.0}],"then":[]}`,
	`{"if":[{"key":"a","rev":-1}],"then":[]}`,
	`{"then":[]} x`,
	`{"then":[]}]`,
	`{"then":[],}`,
	`{"then":[{"op":"put","key":"a","value":"1"},]}`,
	"{\"then\":[{\"op\":\"put\",\"key\":\"\xff\",\"value\":\"1\"}]}", // invalid UTF-8
	`{"unknown":1}`,
	`{"if":[{"exists":truex}]}`,
	`[]`,
	``,
}

// checkTxnDecode fails if the fast decoder takes a body that encoding/json
// decodes differently, or refuses.
func checkTxnDecode(t *testing.T, body []byte) {
	t.Helper()
	fast, ok := decodeTxnFast(body)
	if !ok {
		return // encoding/json decides
	}
	slow, err := decodeTxn(body)
	if err != nil {
		t.Fatalf("%q: the fast decoder took what encoding/json refuses: %v", body, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("%q: fast %s, encoding/json %s", body, show(fast), show(slow))
	}
}

func show(r txnRequest) string {
	b, _ := json.Marshal(r)
	return fmt.Sprintf("%s (if nil %v, then nil %v, else nil %v)", b, r.If == nil, r.Then == nil, r.Else == nil)
}

func TestDecodeTxnFastAgrees(t *testing.T) {
	for _, b := range txnBodies {
		checkTxnDecode(t, []byte(b))
	}
	// What clients send goes the fast way.
	for _, b := range txnBodies[:5] {
		if _, ok := decodeTxnFast([]byte(b)); !ok {
			t.Errorf("%q went to encoding/json", b)
		}
	}
	var ops []string
	for i := range 100 {
		ops = append(ops, fmt.Sprintf(`{"op":"put","key":"key-%d","value":%q}`, i, strings.Repeat("v", 128)))
	}
	body := `{"then":[` + strings.Join(ops, ",") + `]}`
	if r, ok := decodeTxnFast([]byte(body)); !ok || len(r.Then) != 100 {
		t.Errorf("a transaction of 100 puts went to encoding/json")
	}
	checkTxnDecode(t, []byte(body))
}

// FuzzDecodeTxnFast: whatever the fast decoder takes, encoding/json decodes
// to the same request.
func FuzzDecodeTxnFast(f *testing.F) {
	for _, b := range txnBodies {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkTxnDecode(t, body)
	})
}

func BenchmarkDecodeTxn(b *testing.B) {
	var ops []string
	for i := range 100 {
		ops = append(ops, fmt.Sprintf(`{"op":"put","key":"key-%d","value":%q}`, i, strings.Repeat("v", 128)))
	}
	body := []byte(`{"then":[` + strings.Join(ops, ",") + `]}`)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			decodeTxnFast(body)
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			_, _ = decodeTxn(body)
		}
	})
}
