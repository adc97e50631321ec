package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/rsml-go/rsml/storage"
)

func TestBenchRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--bogus"}, "flag provided but not defined: -bogus"},
		{[]string{"--transport", "udp"}, `--transport "udp": want memory or tcp`},
		{[]string{"--storage", "bolt"}, `--storage "bolt": want memory or nutsdb`},
		{[]string{"--nodes", "0"}, "--nodes 0: want 1 to 7"},
		{[]string{"--nodes", "9"}, "--nodes 9: want 1 to 7"},
		{[]string{"--clients", "0"}, "--clients 0: want at least 1"},
		{[]string{"--duration", "0s"}, "--duration 0s: want a positive duration"},
		{[]string{"--duration", "soon"}, `invalid value "soon" for flag -duration`},
		{[]string{"--value", "-1"}, "--value -1: want 0 to 1048576 bytes"},
		{[]string{"--value", "1048577"}, "--value 1048577"},
		{[]string{"--keys", "0"}, "--keys 0: want at least 1"},
		{[]string{"--log-level", "loud"}, `--log-level "loud"`},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"--endpoints", ","}, "--endpoints: no URL given"},
		{[]string{"--endpoints", "ftp://x"}, `scheme "ftp"`},
		{[]string{"--endpoints", "http://127.0.0.1:1", "--storage", "nutsdb"}, "--storage does not apply with --endpoints"},
		{[]string{"--endpoints", "http://127.0.0.1:1", "--nodes", "3"}, "--nodes does not apply with --endpoints"},
		{[]string{"--endpoints", "http://127.0.0.1:1", "--spread"}, "--spread needs --endpoints with at least two URLs"},
		{[]string{"--spread"}, "--spread needs --endpoints"},
		{[]string{"--txn-size", "1"}, "--txn-size 1: want 2 to 1000"},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		if code := run(append([]string{"bench"}, tt.args...), strings.NewReader(""), &out, &errb); code != 2 {
			t.Errorf("bench %q: exit %d, want 2", tt.args, code)
		}
		if !strings.Contains(errb.String(), tt.want) || !strings.Contains(errb.String(), "rsml-node bench --help") {
			t.Errorf("bench %q: stderr %q, want it to say %q and point to --help", tt.args, errb.String(), tt.want)
		}
		if out.Len() > 0 {
			t.Errorf("bench %q: printed %q on stdout, where only a result belongs", tt.args, out.String())
		}
	}
}

func TestBenchHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"bench", "--help"}, strings.NewReader(""), &out, &errb); code != 0 {
		t.Fatalf("bench --help: exit %d, stderr %q", code, errb.String())
	}
	var f benchFlags
	var endpoints string
	benchFlagSet(&f, &endpoints).VisitAll(func(fl *flag.Flag) {
		if fl.Usage == "" {
			t.Errorf("--%s has no help text", fl.Name)
		}
		if !strings.Contains(out.String(), "-"+fl.Name) {
			t.Errorf("--help does not list --%s", fl.Name)
		}
	})
}

// benchJSON is the contract's line (DESIGN.md §4.3), every field required.
type benchJSON struct {
	System    *string  `json:"system"`
	Transport *string  `json:"transport"`
	Storage   *string  `json:"storage"`
	Nodes     *int     `json:"nodes"`
	Clients   *int     `json:"clients"`
	Value     *int     `json:"value"`
	Ops       *int     `json:"ops"`
	OpsPerSec *float64 `json:"ops_per_sec"`
	P50us     *int64   `json:"p50_us"`
	P99us     *int64   `json:"p99_us"`
	Errors    *int     `json:"errors"`
	MaxRSSKB  *int64   `json:"max_rss_kb"`
}

// checkBenchOutput checks that stdout's last line is the contract's JSON
// object for a clean run with the given settings.
func checkBenchOutput(t *testing.T, stdout string, transport, storage string, nodes, clients int) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	last := lines[len(lines)-1]
	var r benchJSON
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		t.Fatalf("last stdout line %q is not JSON: %v", last, err)
	}
	if r.System == nil || r.Transport == nil || r.Storage == nil || r.Nodes == nil || r.Clients == nil ||
		r.Value == nil || r.Ops == nil || r.OpsPerSec == nil || r.P50us == nil || r.P99us == nil || r.Errors == nil ||
		r.MaxRSSKB == nil {
		t.Fatalf("a field is missing: %s", last)
	}
	if *r.System != "rsml" || *r.Transport != transport || *r.Storage != storage || *r.Nodes != nodes ||
		*r.Clients != clients || *r.Value != 128 {
		t.Errorf("settings in %s, want rsml %s %s nodes %d clients %d value 128", last, transport, storage, nodes, clients)
	}
	if *r.Ops <= 0 || *r.OpsPerSec <= 0 || *r.Errors != 0 {
		t.Errorf("want ops > 0 and no errors: %s", last)
	}
	if *r.P50us <= 0 || *r.P99us < *r.P50us || *r.MaxRSSKB <= 0 {
		t.Errorf("want 0 < p50 <= p99 and a peak RSS: %s", last)
	}
}

// TestBenchProcess runs the bench command as a user does, briefly: a
// cluster in the process on each transport (nutsdb on TCP, the durable
// path), then a running cluster (rsml-node dev) over HTTP.
func TestBenchProcess(t *testing.T) {
	bin := buildBinary(t)
	bench := func(t *testing.T, args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(bin, append([]string{"bench", "--duration", "300ms", "--clients", "4"}, args...)...)
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("bench %q: %v\nstderr:\n%s", args, err, stderr.String())
		}
		// Not a terminal: no progress bar, and a clean run logs nothing.
		if stderr.Len() > 0 {
			t.Errorf("bench %q wrote to stderr:\n%s", args, stderr.String())
		}
		return stdout.String()
	}
	t.Run("memory", func(t *testing.T) {
		out := bench(t, "--transport", "memory", "--storage", "memory")
		checkBenchOutput(t, out, "memory", "memory", 3, 4)
	})
	t.Run("tcp-nutsdb", func(t *testing.T) {
		dir := t.TempDir()
		out := bench(t, "--transport", "tcp", "--storage", "nutsdb", "--dir", dir)
		checkBenchOutput(t, out, "tcp", "nutsdb", 3, 4)
		if left, err := os.ReadDir(dir); err != nil || len(left) > 0 {
			t.Errorf("the nutsdb data was not removed: %v %v", left, err)
		}
	})
	t.Run("txn", func(t *testing.T) {
		out := bench(t, "--transport", "memory", "--storage", "memory", "--txn-size", "10")
		checkBenchOutput(t, out, "memory", "memory", 3, 4)
		var r benchResult
		if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil || r.TxnSize != 10 ||
			math.Abs(r.KeysPerSec-10*r.OpsPerSec) > 10 {
			t.Errorf("--txn-size 10: %s (%v), want txn_size 10 and keys_per_sec 10 times ops_per_sec", out, err)
		}
	})
	t.Run("endpoints", func(t *testing.T) {
		urls := startDev(t, bin)
		out := bench(t, "--endpoints", strings.Join(urls, ","))
		checkBenchOutput(t, out, "http", "unknown", 3, 4)
		if strings.Contains(out, `"spread"`) {
			t.Errorf("spread in a run without --spread: %s", out)
		}
		before := putsServed(t, urls[1])
		out = bench(t, "--endpoints", strings.Join(urls, ","), "--spread")
		checkBenchOutput(t, out, "http", "unknown", 3, 4)
		if !strings.Contains(out, `"spread":true`) {
			t.Errorf("no spread in a --spread run: %s", out)
		}
		if after := putsServed(t, urls[1]); after <= before {
			t.Errorf("replica 2 served %v PUTs before the --spread run and %v after: the clients were not spread", before, after)
		}
		out = bench(t, "--endpoints", strings.Join(urls, ","), "--txn-size", "5")
		checkBenchOutput(t, out, "http", "unknown", 3, 4)
		if !strings.Contains(out, `"txn_size":5`) {
			t.Errorf("no txn_size in a --txn-size run over HTTP: %s", out)
		}
	})
}

// putsServed sums the PUTs a replica's HTTP API answered, by its /metrics.
func putsServed(t *testing.T, url string) float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, m := range regexp.MustCompile(`(?m)^rsml_http_requests_total\{[^}]*method="PUT"[^}]*\} (\S+)$`).FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseFloat(string(m[1]), 64)
		sum += v
	}
	return sum
}

// startDev starts rsml-node dev on free ports and returns its replicas'
// URLs; the cluster is stopped with SIGTERM at the end of the test.
func startDev(t *testing.T, bin string) []string {
	t.Helper()
	cmd := exec.Command(bin, "dev", "--http", "127.0.0.1:0", "--log-level", "warn")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	urls := make(chan string, 3)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			// "replica 1: http://127.0.0.1:PORT"
			if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "replica" {
				urls <- f[2]
			}
		}
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("rsml-node dev: %v\n%s", err, stderr.String())
			}
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("rsml-node dev did not stop on SIGTERM")
		}
	})
	var out []string
	timeout := time.After(30 * time.Second)
	for len(out) < 3 {
		select {
		case u := <-urls:
			out = append(out, u)
		case err := <-done:
			t.Fatalf("rsml-node dev exited: %v\n%s", err, stderr.String())
		case <-timeout:
			t.Fatalf("rsml-node dev printed no URLs\n%s", stderr.String())
		}
	}
	return out
}

// TestBenchStopsEverything runs the bench in this process and checks that
// the cluster it started leaves no goroutine and no data behind.
func TestBenchStopsEverything(t *testing.T) {
	before := goleak.IgnoreCurrent()
	for _, store := range []string{"memory", "nutsdb"} {
		dir := t.TempDir()
		var out, errb bytes.Buffer
		code := run([]string{"bench", "--duration", "200ms", "--clients", "4", "--storage", store, "--dir", dir},
			strings.NewReader(""), &out, &errb)
		if code != 0 {
			t.Fatalf("bench --storage %s: exit %d\n%s", store, code, errb.String())
		}
		checkBenchOutput(t, out.String(), "memory", store, 3, 4)
		if left, _ := os.ReadDir(dir); len(left) > 0 {
			t.Errorf("bench --storage %s left %v in --dir", store, left)
		}
	}
	// nutsdb leaves one writer goroutine per closed DB (see
	// storage.NutsLeftoverGoroutine).
	goleak.VerifyNone(t, before, goleak.IgnoreTopFunction(storage.NutsLeftoverGoroutine))
}

func TestRunLoad(t *testing.T) {
	var calls, fails atomic.Int64
	var seen atomic.Int64
	cfg := loadConfig{
		clients: 3, duration: 50 * time.Millisecond, valueSize: 16, keys: 5,
		put: func(_ context.Context, cl int, keys []string, value []byte) error {
			if cl < 0 || cl >= 3 {
				t.Errorf("put by client %d: want 0 to 2", cl)
			}
			n := calls.Add(1)
			if len(keys) != 1 || len(value) != 16 || !strings.HasPrefix(keys[0], "key-") || keys[0] > "key-4" {
				t.Errorf("put(%q, %d bytes): want one of key-0..key-4 and 16 bytes", keys, len(value))
			}
			if n%3 == 0 {
				fails.Add(1)
				return errors.New("refused")
			}
			return nil
		},
		onOp: func(bool) { seen.Add(1) },
	}
	res := runLoad(context.Background(), cfg)
	if int64(len(res.lats)+res.errors) != calls.Load() || int64(res.errors) != fails.Load() || seen.Load() != calls.Load() {
		t.Errorf("%d latencies + %d errors, %d seen, want %d calls of which %d failed",
			len(res.lats), res.errors, seen.Load(), calls.Load(), fails.Load())
	}
	for i := 1; i < len(res.lats); i++ {
		if res.lats[i] < res.lats[i-1] {
			t.Fatal("latencies are not sorted")
		}
	}
	if res.elapsed < cfg.duration {
		t.Errorf("elapsed %v, shorter than the duration %v", res.elapsed, cfg.duration)
	}
}

// TestRunLoadWaitsForTheLastPut checks that elapsed covers a put still in
// flight at the deadline, and that no put starts after it.
func TestRunLoadWaitsForTheLastPut(t *testing.T) {
	const hold = 200 * time.Millisecond
	var calls atomic.Int64
	res := runLoad(context.Background(), loadConfig{clients: 1, duration: time.Millisecond, keys: 1,
		put: func(context.Context, int, []string, []byte) error {
			calls.Add(1)
			<-time.After(hold) // a put that outlasts the deadline
			return nil
		}})
	if calls.Load() != 1 || len(res.lats) != 1 {
		t.Fatalf("%d puts, %d latencies: want exactly one, none started after the deadline", calls.Load(), len(res.lats))
	}
	if res.elapsed < hold || res.lats[0] < hold {
		t.Errorf("elapsed %v, latency %v: want both to cover the %v put", res.elapsed, res.lats[0], hold)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var out []time.Duration
		for _, x := range xs {
			out = append(out, time.Duration(x)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	tests := []struct {
		lats []time.Duration
		p    int
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(1, 2, 3, 4), 50, 3 * time.Millisecond}, // index len*p/100, as hraft-bench
		{ms(hundred...), 50, 51 * time.Millisecond},
		{ms(hundred...), 99, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(tt.lats, tt.p); got != tt.want {
			t.Errorf("percentile(%v, %d) = %v, want %v", tt.lats, tt.p, got, tt.want)
		}
	}
}

func TestRenderProgress(t *testing.T) {
	tests := []struct {
		elapsed, total time.Duration
		ok, failed     int64
		want           string
	}{
		{0, 5 * time.Second, 0, 0, "[..............................]   0.0s/5.0s         0 ops         0 ops/s 0 errors"},
		{time.Second, 4 * time.Second, 5000, 2, "[#######.......................]   1.0s/4.0s      5000 ops      5000 ops/s 2 errors"},
		// Past the deadline, while the last puts finish: full, never beyond.
		{6 * time.Second, 5 * time.Second, 60000, 0, "[##############################]   5.0s/5.0s     60000 ops     10000 ops/s 0 errors"},
	}
	for _, tt := range tests {
		if got := renderProgress(tt.elapsed, tt.total, tt.ok, tt.failed); got != tt.want {
			t.Errorf("renderProgress(%v, %v, %d, %d):\n got %q\nwant %q", tt.elapsed, tt.total, tt.ok, tt.failed, got, tt.want)
		}
	}
}
