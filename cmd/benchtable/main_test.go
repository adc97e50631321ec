package main

import (
	"bytes"
	"math"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		xs   []float64
		want float64
	}{
		{[]float64{7}, 7},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1, 100, 5}, 5},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.xs...)
		if got := median(tt.xs); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.xs, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.xs[i] {
				t.Fatalf("median reordered its input: %v, was %v", tt.xs, in)
			}
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v, want NaN", got)
	}
}

// The two programs' lines, as make bench interleaves them, with a line of
// other output and a run of a configuration that only one system has.
const sample = `building...
{"system":"rsml","transport":"memory","storage":"memory","nodes":3,"clients":64,"value":128,"ops":1,"ops_per_sec":90000,"p50_us":600,"p99_us":3000,"errors":0,"max_rss_kb":1}
{"system":"hashicorp/raft","transport":"inmem","store":"mem","clients":64,"value":128,"ops":1,"ops_per_sec":60000,"p50_us":700,"p99_us":6000,"errors":0}
{"system":"rsml","transport":"memory","storage":"memory","nodes":3,"clients":64,"value":128,"ops":1,"ops_per_sec":70000,"p50_us":800,"p99_us":5000,"errors":2}
{"system":"hashicorp/raft","transport":"inmem","store":"mem","clients":64,"value":128,"ops":1,"ops_per_sec":40000,"p50_us":900,"p99_us":4000,"errors":0}
{"system":"rsml","transport":"tcp","storage":"nutsdb","nodes":3,"clients":64,"value":128,"ops":1,"ops_per_sec":20000,"p50_us":3000,"p99_us":8000,"errors":0}
{"system":"hashicorp/raft","transport":"tcp","store":"bolt","clients":64,"value":128,"ops":1,"ops_per_sec":5000,"p50_us":9000,"p99_us":30000,"errors":0}
{"system":"rsml","transport":"tcp","storage":"memory","nodes":3,"clients":1,"value":128,"ops":1,"ops_per_sec":4000,"p50_us":200,"p99_us":700,"errors":0}
`

func TestSummarizePairsTheSystems(t *testing.T) {
	runs, err := parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 7 {
		t.Fatalf("parsed %d runs, want 7", len(runs))
	}
	rows := summarize(runs)
	want := []struct {
		cfg                 config
		rsmlRuns, hraftRuns int
		rsmlOps, hraftOps   float64
		rsmlP99, hraftP99   float64
		rsmlLabel           string
		hraftLabel          string
	}{
		{config{"memory", false, 64, "", 0}, 2, 2, 80000, 50000, 4000, 5000, "memory+memory", "inmem+mem"},
		{config{"tcp", true, 64, "", 0}, 1, 1, 20000, 5000, 8000, 30000, "tcp+nutsdb", "tcp+bolt"},
		{config{"tcp", false, 1, "", 0}, 1, 0, 4000, 0, 700, 0, "tcp+memory", ""},
	}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, w := range want {
		r := rows[i]
		if r.cfg != w.cfg || r.rsml.runs != w.rsmlRuns || r.hraft.runs != w.hraftRuns ||
			r.rsml.ops != w.rsmlOps || r.hraft.ops != w.hraftOps || r.rsml.p99 != w.rsmlP99 ||
			(w.hraftRuns > 0 && r.hraft.p99 != w.hraftP99) || r.rsml.label != w.rsmlLabel || r.hraft.label != w.hraftLabel {
			t.Errorf("row %d = %+v, want %+v", i, r, w)
		}
	}
	if rows[0].rsml.errors != 2 {
		t.Errorf("errors = %d, want the sum 2", rows[0].rsml.errors)
	}
}

func TestTable(t *testing.T) {
	var out bytes.Buffer
	if err := run(nil, strings.NewReader(sample), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	wants := []string{
		// rows: labels, runs, medians, ratios rsml/reference
		"| memory+memory | inmem+mem | 64 | 2/2 | 80,000 | 50,000 | 1.60 | 700 | 800 | 0.88 | 4,000 | 5,000 | 0.80 | 2/0 |",
		"| tcp+nutsdb | tcp+bolt | 64 | 1/1 | 20,000 | 5,000 | 4.00 | 3,000 | 9,000 | 0.33 | 8,000 | 30,000 | 0.27 | 0/0 |",
		"| tcp+memory | – | 1 | 1/0 | 4,000 | – | – | 200 | – | – | 700 | – | – | 0/0 |",
	}
	squeeze := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	for i, w := range wants {
		if got := squeeze(lines[2+i]); got != w {
			t.Errorf("row %d:\n got %s\nwant %s", i, got, w)
		}
	}
	// Every line of the table has the same width, so it reads as a table
	// in a terminal as well as in Markdown.
	for _, l := range lines[1:5] {
		if len([]rune(l)) != len([]rune(lines[0])) {
			t.Errorf("ragged table:\n%s", out.String())
			break
		}
	}
}

func TestBadInput(t *testing.T) {
	if err := run(nil, strings.NewReader("{not json\n"), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("malformed line: err = %v, want it to name line 1", err)
	}
	if err := run(nil, strings.NewReader("nothing here\n"), &bytes.Buffer{}); err == nil {
		t.Error("no results: want an error")
	}
	if err := run([]string{"-h"}, strings.NewReader(""), &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "usage") {
		t.Errorf("a flag: err = %v, want the usage", err)
	}
}

// Process runs over HTTP pair with etcd's of the same target and
// durability: nutsdb with etcd's fsynced WAL, memory with its WAL unsynced.
func TestProcessRunsPairWithEtcd(t *testing.T) {
	const lines = `{"system":"rsml","transport":"http","storage":"nutsdb","clients":64,"ops_per_sec":9000,"p50_us":5000,"p99_us":12000,"errors":0}
{"system":"etcd","transport":"tcp","storage":"wal+bbolt","clients":64,"target":"leader","ops_per_sec":5000,"p50_us":11000,"p99_us":27000,"errors":0}
{"system":"rsml","transport":"http","storage":"memory","clients":64,"spread":true,"ops_per_sec":10000,"p50_us":4000,"p99_us":10000,"errors":0}
{"system":"etcd","transport":"tcp","storage":"wal+bbolt-nofsync","clients":64,"target":"all","ops_per_sec":8000,"p50_us":6000,"p99_us":16000,"errors":0}
`
	runs, err := parse(strings.NewReader(lines))
	if err != nil {
		t.Fatal(err)
	}
	rows := summarize(runs)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2: %+v", len(rows), rows)
	}
	if c := rows[0].cfg; c != (config{"http", true, 64, "leader", 0}) || rows[0].hraft.runs != 1 || rows[0].hraft.label != "etcd tcp+wal+bbolt (leader)" {
		t.Errorf("durable row %+v", rows[0])
	}
	if c := rows[1].cfg; c != (config{"http", false, 64, "all", 0}) || rows[1].hraft.runs != 1 || rows[1].rsml.label != "http+memory (all)" {
		t.Errorf("memory row %+v", rows[1])
	}
}
