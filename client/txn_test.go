package client

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

func cannedJSON(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
}

func TestTxnRequestAndResult(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "1")
	nodes[0].then(cannedJSON(`{"rev": 7, "succeeded": true, "results": [{"rev": 7}, {"rev": 7, "deleted": true},
		{"found": true, "key": "a", "value": "x", "value_base64": "eA==", "rev": 3}, {"found": false, "key": "b"}]}`))
	c, _ := newTestClient(t, urls(nodes...))
	tx := Txn{
		If:   []Compare{{"a", IfRev(3)}, {"b", IfAbsent()}, {"\xff", IfExists()}},
		Then: []Op{PutOp("a", []byte("x")), DeleteOp("d"), GetOp("a"), GetOp("b")},
		Else: []Op{PutOp("bin", []byte{0xff}), PutOp("nil", nil)},
	}
	res, err := c.Txn(context.Background(), tx)
	if err != nil {
		t.Fatal(err)
	}
	want := TxnResult{Rev: 7, Succeeded: true, Results: []OpResult{{Rev: 7}, {Rev: 7, Deleted: true},
		{Rev: 3, Found: true, Value: []byte("x")}, {}}}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	got := nodes[0].last(t)
	if got.method != "POST" || got.path != "/v1/txn" {
		t.Fatalf("request %s %s", got.method, got.path)
	}
	var body, wantBody any
	_ = json.Unmarshal(got.body, &body)
	_ = json.Unmarshal([]byte(`{"if": [{"key": "a", "rev": 3}, {"key": "b", "exists": false}, {"key_base64": "/w==", "exists": true}],
		"then": [{"op": "put", "key": "a", "value": "x"}, {"op": "delete", "key": "d"}, {"op": "get", "key": "a"}, {"op": "get", "key": "b"}],
		"else": [{"op": "put", "key": "bin", "value_base64": "/w=="}, {"op": "put", "key": "nil", "value": ""}]}`), &wantBody)
	if !reflect.DeepEqual(body, wantBody) {
		t.Fatalf("body %s", got.body)
	}
}

func TestTxnRetries(t *testing.T) {
	write := Txn{Then: []Op{PutOp("k", []byte("v"))}}
	read := Txn{If: []Compare{{"k", IfExists()}}, Then: []Op{GetOp("k")}}
	for _, tt := range []struct {
		name   string
		answer http.HandlerFunc
	}{{"504", answer(504, "indeterminate")}, {"connection dropped", hangUp}, {"500", answer(500, "internal")}} {
		t.Run(tt.name, func(t *testing.T) {
			_, nodes := newFakeCluster(t, 2, "1")
			nodes[0].then(tt.answer)
			c, _ := newTestClient(t, urls(nodes...))
			if _, err := c.Txn(context.Background(), write); !errors.Is(err, ErrIndeterminate) {
				t.Fatalf("writing txn: %v, want ErrIndeterminate", err)
			}
			if h := nodes[0].kvHits() + nodes[1].kvHits(); h != 1 {
				t.Fatalf("a writing txn of unknown outcome was sent %d times", h)
			}
			nodes[0].then(tt.answer)
			nodes[1].then(tt.answer)
			nodes[0].then(cannedJSON(`{"rev": 4, "succeeded": true, "results": [{"found": false, "key": "k"}]}`))
			nodes[1].then(cannedJSON(`{"rev": 4, "succeeded": true, "results": [{"found": false, "key": "k"}]}`))
			if res, err := c.Txn(context.Background(), read); err != nil || res.Rev != 4 {
				t.Fatalf("read-only txn after failures: %+v, %v (it is retried as a read)", res, err)
			}
		})
	}
	_, nodes := newFakeCluster(t, 1, "1")
	nodes[0].then(cannedJSON(`{"succeeded": true, "results": []}`))
	c, _ := newTestClient(t, urls(nodes...))
	if _, err := c.Txn(context.Background(), write); err == nil || errors.Is(err, ErrIndeterminate) {
		t.Fatalf("a 200 without a rev: %v, want an error saying it was applied", err)
	}
	if _, err := c.Txn(context.Background(), Txn{If: []Compare{{"k", Cond{}}}}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a condition without a condition: %v", err)
	}
	if _, err := c.Txn(context.Background(), Txn{Then: []Op{{}}}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a zero Op: %v", err)
	}
}

func TestList(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "1")
	nodes[0].then(cannedJSON(`{"rev": 9, "more": true, "items": [{"key": "p/a", "value": "1", "value_base64": "MQ==", "rev": 2},
		{"key_base64": "cC//", "value_base64": "/w==", "rev": 5}]}`))
	c, _ := newTestClient(t, urls(nodes...))
	page, err := c.List(context.Background(), "p/", ListOptions{StartAfter: "p/", Limit: 2, Stale: true})
	if err != nil {
		t.Fatal(err)
	}
	want := ListPage{Rev: 9, More: true, Items: []Item{{"p/a", []byte("1"), 2}, {"p/\xff", []byte{0xff}, 5}}}
	if !reflect.DeepEqual(page, want) {
		t.Fatalf("page %+v, want %+v", page, want)
	}
	got := nodes[0].last(t)
	q, _ := url.ParseQuery(got.query)
	if got.path != "/v1/kv" || q.Get("prefix") != "p/" || q.Get("start_after") != "p/" || q.Get("limit") != "2" || q.Get("consistency") != "stale" {
		t.Fatalf("request %s?%s", got.path, got.query)
	}
	nodes[0].then(cannedJSON(`{"items": []}`))
	if _, err := c.List(context.Background(), "", ListOptions{}); err == nil {
		t.Fatal("an answer without a rev was taken for a listing")
	}
}

// A transaction has no key: its errors must not name an empty one.
func TestTxnErrorNamesNoEmptyKey(t *testing.T) {
	_, nodes := newFakeCluster(t, 1, "1")
	nodes[0].then(answer(504, "indeterminate"))
	c, _ := newTestClient(t, urls(nodes...))
	_, err := c.Txn(context.Background(), Txn{Then: []Op{PutOp("a", []byte("1"))}})
	if err == nil || strings.Contains(err.Error(), `txn ""`) || !strings.HasPrefix(err.Error(), "txn: ") {
		t.Errorf("Txn error = %v, want it to start with \"txn: \" and name no key", err)
	}
}
