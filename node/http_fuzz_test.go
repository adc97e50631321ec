package node

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzHTTPHandler throws arbitrary methods, paths, condition headers and
// bodies at a replica's HTTP API: it must never panic, must answer with a
// status of the contract, and every error must be the contract's JSON shape.
func FuzzHTTPHandler(f *testing.F) {
	for _, s := range []struct{ method, path, ifMatch, ifNone, body string }{
		{"GET", "/v1/kv/a", "", "", ""},
		{"PUT", "/v1/kv/a%2Fb", `"1"`, "", "v"},
		{"PUT", "/v1/kv/a", "", "*", "v"},
		{"DELETE", "/v1/kv/a", "*", "", ""},
		{"GET", "/v1/kv/a?consistency=stale", "", "", ""},
		{"POST", "/v1/status", "", "", "x"},
		{"GET", "/v1/kv/%zz", "", "", ""},
		{"PUT", "/v1/kv/", `W/"1"`, "", ""},
		{"GET", "/metrics", "", "", ""},
	} {
		f.Add(s.method, s.path, s.ifMatch, s.ifNone, []byte(s.body))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Template: Config{Logger: discard}})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Stop(context.Background()) })
	if _, err := c.WaitLeader(ctx); err != nil {
		f.Fatal(err)
	}
	h := c.Nodes()[0].Handler(HTTPConfig{MaxValueBytes: 64, MaxKeyBytes: 16, RequestTimeout: 2 * time.Second})
	allowed := map[int]bool{200: true, 400: true, 404: true, 405: true, 412: true, 413: true, 503: true, 504: true}
	f.Fuzz(func(t *testing.T, method, path, ifMatch, ifNone string, body []byte) {
		req, err := http.NewRequest(method, "http://x"+path, bytes.NewReader(body))
		if err != nil {
			return // not a request a client could send
		}
		if ifMatch != "" {
			req.Header.Set("If-Match", ifMatch)
		}
		if ifNone != "" {
			req.Header.Set("If-None-Match", ifNone)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if !allowed[w.Code] {
			t.Fatalf("%s %s: status %d is not in the contract", method, path, w.Code)
		}
		if w.Code != 200 {
			var e struct{ Error, Code string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error == "" || e.Code == "" {
				t.Fatalf("%s %s: %d with body %q, not a JSON error", method, path, w.Code, w.Body.Bytes())
			}
		}
	})
}
