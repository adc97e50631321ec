// Command benchtable turns the JSON lines of rsml-node bench and of a
// reference (hashicorp/raft, ../shared/bench/hraft, for the engine; etcd,
// ../shared/bench/etcd, for processes over HTTP) into one table: per
// configuration the medians over the runs of ops/s, p50 and p99, and the
// ratios rsml/reference. `make bench` and `make bench-e2e` feed it.
//
//	benchtable [FILE...]   (no FILE: stdin)
//
// Lines that do not start with "{" are skipped, so a whole log can be fed in.
// The two programs name the same settings differently (inmem/memory,
// mem/memory, store/storage); a run of nutsdb is paired with one of bolt, as
// each system's durable store. An rsml run over HTTP (transport "http") is
// paired with an etcd run (its own client protocol) of the same target
// (leader, or all: spread over the members) and durability (etcd without
// fsync against rsml in memory).
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "benchtable: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	if slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "-") }) {
		return fmt.Errorf("usage: benchtable [FILE...] (JSON lines of rsml-node bench and hraft-bench; no FILE: stdin)")
	}
	var runs []result
	read := func(name string, r io.Reader) error {
		rs, err := parse(r)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		runs = append(runs, rs...)
		return nil
	}
	if len(args) == 0 {
		if err := read("stdin", stdin); err != nil {
			return err
		}
	}
	for _, name := range args {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		err = read(name, f)
		f.Close()
		if err != nil {
			return err
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("no results")
	}
	writeTable(stdout, summarize(runs))
	return nil
}

// result is one run's JSON line, as either program writes it.
type result struct {
	System    string  `json:"system"`
	Transport string  `json:"transport"`
	Storage   string  `json:"storage"` // rsml
	Store     string  `json:"store"`   // hraft
	Clients   int     `json:"clients"`
	Target    string  `json:"target"` // etcd: leader or all
	Spread    bool    `json:"spread"` // rsml: the clients over every endpoint
	TxnSize   int     `json:"txn_size"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	Errors    int     `json:"errors"`
}

func parse(r io.Reader) ([]result, error) {
	var out []result
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var res result
		if err := json.Unmarshal([]byte(line), &res); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if res.System == "" {
			return nil, fmt.Errorf("line %d: no \"system\" field", n)
		}
		out = append(out, res)
	}
	return out, sc.Err()
}

// config identifies what the two systems are compared on.
type config struct {
	transport string // memory, tcp, or http (processes, each system's client protocol)
	durable   bool
	clients   int
	target    string // http: leader or all
	txnSize   int    // puts per transaction (0: single puts)
}

func (r result) config() config {
	t := r.Transport
	switch {
	case t == "inmem":
		t = "memory"
	case r.System == "etcd":
		t = "http"
	}
	target := r.Target
	if r.Spread {
		target = "all"
	}
	if t == "http" && target == "" {
		target = "leader"
	}
	s := r.Storage + r.Store
	return config{transport: t, durable: s != "memory" && s != "mem" && !strings.HasSuffix(s, "nofsync"),
		clients: r.Clients, target: target, txnSize: r.TxnSize}
}

// label names a system's own settings, as its flags spell them.
func (r result) label() string {
	l := r.Transport + "+" + r.Storage + r.Store
	if r.System == "etcd" {
		l = "etcd " + l
	}
	if c := r.config(); c.target != "" {
		l += " (" + c.target + ")"
	}
	if r.TxnSize > 0 {
		l += fmt.Sprintf(" txn %d", r.TxnSize)
	}
	return l
}

// stats are the medians of one system's runs of one configuration.
type stats struct {
	label         string
	runs, errors  int
	hasRuns       bool
	ops, p50, p99 float64
}

// row is one configuration of the table.
type row struct {
	cfg         config
	rsml, hraft stats
}

// summarize groups the runs by configuration, in the order the
// configurations first appear, and takes the medians.
func summarize(runs []result) []row {
	var rows []row
	index := map[config]int{}
	groups := map[config]map[bool][]result{} // key: is rsml
	for _, r := range runs {
		c := r.config()
		if _, ok := index[c]; !ok {
			index[c] = len(rows)
			rows = append(rows, row{cfg: c})
			groups[c] = map[bool][]result{}
		}
		isRSML := r.System == "rsml"
		groups[c][isRSML] = append(groups[c][isRSML], r)
	}
	for i := range rows {
		g := groups[rows[i].cfg]
		rows[i].rsml, rows[i].hraft = medians(g[true]), medians(g[false])
	}
	return rows
}

func medians(rs []result) stats {
	if len(rs) == 0 {
		return stats{}
	}
	field := func(f func(result) float64) []float64 {
		var xs []float64
		for _, r := range rs {
			xs = append(xs, f(r))
		}
		return xs
	}
	s := stats{label: rs[0].label(), runs: len(rs), hasRuns: true,
		ops: median(field(func(r result) float64 { return r.OpsPerSec })),
		p50: median(field(func(r result) float64 { return r.P50us })),
		p99: median(field(func(r result) float64 { return r.P99us }))}
	for _, r := range rs {
		s.errors += r.Errors
	}
	return s
}

// median is the middle value, or the mean of the two middle values of an
// even count; NaN for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Sorted(slices.Values(xs))
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// writeTable prints a Markdown table, ready for an issue note.
func writeTable(w io.Writer, rows []row) {
	head := []string{"rsml", "reference", "clients", "runs", "rsml ops/s", "ref ops/s", "ratio",
		"rsml p50 µs", "ref p50 µs", "ratio", "rsml p99 µs", "ref p99 µs", "ratio", "errors"}
	cells := [][]string{head}
	for _, r := range rows {
		cells = append(cells, []string{
			orDash(r.rsml.label), orDash(r.hraft.label), fmt.Sprint(r.cfg.clients),
			fmt.Sprintf("%d/%d", r.rsml.runs, r.hraft.runs),
			num(r.rsml, r.rsml.ops), num(r.hraft, r.hraft.ops), ratio(r.rsml, r.hraft, r.rsml.ops, r.hraft.ops),
			num(r.rsml, r.rsml.p50), num(r.hraft, r.hraft.p50), ratio(r.rsml, r.hraft, r.rsml.p50, r.hraft.p50),
			num(r.rsml, r.rsml.p99), num(r.hraft, r.hraft.p99), ratio(r.rsml, r.hraft, r.rsml.p99, r.hraft.p99),
			fmt.Sprintf("%d/%d", r.rsml.errors, r.hraft.errors),
		})
	}
	width := make([]int, len(head))
	for _, line := range cells {
		for i, c := range line {
			width[i] = max(width[i], len([]rune(c)))
		}
	}
	for n, line := range cells {
		for i, c := range line {
			pad := strings.Repeat(" ", width[i]-len([]rune(c)))
			if i < 2 {
				fmt.Fprintf(w, "| %s%s ", c, pad)
			} else {
				fmt.Fprintf(w, "| %s%s ", pad, c)
			}
		}
		fmt.Fprintln(w, "|")
		if n == 0 {
			for i := range line {
				dashes := strings.Repeat("-", width[i])
				if i >= 2 {
					dashes = dashes[1:] + ":" // numbers align right
				}
				fmt.Fprintf(w, "| %s ", dashes)
			}
			fmt.Fprintln(w, "|")
		}
	}
	fmt.Fprintln(w, "\nMedians over the runs; ratio = rsml/reference (ops/s: above 1 is faster; latency: below 1 is faster). errors: rsml/reference, summed.")
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// num prints a median with thousands separators, "–" when there were no runs.
func num(s stats, v float64) string {
	if !s.hasRuns {
		return "–"
	}
	digits := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return b.String()
}

func ratio(a, b stats, x, y float64) string {
	if !a.hasRuns || !b.hasRuns || y == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f", x/y)
}
