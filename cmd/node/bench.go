package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/rsml-go/rsml/client"
)

// rsml-node bench (DESIGN.md §4.3): the same workload and measurement as
// ../shared/bench/hraft, so that the two systems' JSON lines compare field
// for field. The command prints nothing but that JSON line on stdout.

const benchAbout = `Measure write throughput and latency: --clients goroutines put random keys
(key-0 .. key-(keys-1)) with values of --value bytes, each waiting for its put
to be applied before the next. By default a cluster is started in this process and
the puts go through the Go API of its leader; with --endpoints they go over HTTP
to a running cluster.

The clock starts once a leader has applied one write. ops_per_sec counts the
successful puts over the time until the last put in flight at the deadline
returns; p50_us and p99_us are latencies of successful puts, from call to
return; errors counts failed puts (excluded from both). The last line on
stdout is one JSON object; a progress bar goes to stderr when it is a terminal.`

// benchSetupTimeout bounds the start of the cluster and the first write.
const benchSetupTimeout = 30 * time.Second

// benchFlags are the bench command's settings.
type benchFlags struct {
	transport  string
	storage    string
	nodes      int
	clients    int
	duration   time.Duration
	valueSize  int
	keys       int
	dir        string
	endpoints  []string
	spread     bool
	txnSize    int
	logLevel   string
	cpuProfile string
	memProfile string
	trace      string
	// with --endpoints: credentials, as the client commands take them
	cacert, cert, key, token string
}

// benchResult is the JSON line of DESIGN.md §4.3; the fields after Errors
// are extras for the speed work (issue 6).
type benchResult struct {
	System    string  `json:"system"`
	Transport string  `json:"transport"`
	Storage   string  `json:"storage"`
	Nodes     int     `json:"nodes"`
	Clients   int     `json:"clients"`
	Value     int     `json:"value"`
	Ops       int     `json:"ops"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50us     int64   `json:"p50_us"`
	P99us     int64   `json:"p99_us"`
	Errors    int     `json:"errors"`
	Keys      int     `json:"keys"`
	ElapsedS  float64 `json:"elapsed_s"`
	// MaxRSSKB is the process's peak resident set, cluster and clients
	// together, as getrusage reports it.
	MaxRSSKB int64 `json:"max_rss_kb"`
	// Spread: --spread (the clients over every endpoint).
	Spread bool `json:"spread,omitempty"`
	// TxnSize and KeysPerSec: with --txn-size, each operation is one
	// transaction of TxnSize puts (ops_per_sec counts transactions).
	TxnSize    int     `json:"txn_size,omitempty"`
	KeysPerSec float64 `json:"keys_per_sec,omitempty"`
}

// benchFlagSet declares the bench command's flags on f; --endpoints, a list,
// is left in endpoints for the caller to split.
func benchFlagSet(f *benchFlags, endpoints *string) *flag.FlagSet {
	fs := flag.NewFlagSet("rsml-node bench", flag.ContinueOnError)
	fs.StringVar(&f.transport, "transport", "memory", "how the replicas talk: memory (the in-process simulated network, no faults) or tcp (Proto.Actor remoting over loopback, as separate processes do)")
	fs.StringVar(&f.storage, "storage", "memory", "the replicas' storage: memory or nutsdb (durable: every promise and acceptance synced, in a temporary directory under --dir)")
	fs.IntVar(&f.nodes, "nodes", 3, "number of replicas (1 to 7)")
	fs.IntVar(&f.clients, "clients", 64, "number of goroutines that put in a loop, each waiting for its put")
	fs.DurationVar(&f.duration, "duration", 5*time.Second, "how long clients start new puts")
	fs.IntVar(&f.valueSize, "value", 128, "value size in `bytes` (0 to 1 MiB)")
	fs.IntVar(&f.keys, "keys", 1000, "keys are drawn at random from key-0 to key-(N-1)")
	fs.StringVar(&f.dir, "dir", os.TempDir(), "parent `directory` of the temporary nutsdb data, which is removed at exit")
	fs.StringVar(endpoints, "endpoints", "", "comma-separated base `URLs` of a running cluster to load over HTTP instead of starting one; the JSON then says transport \"http\", storage \"unknown\"")
	fs.IntVar(&f.txnSize, "txn-size", 0, "each operation is one transaction of `N` puts (N >= 2; POST /v1/txn over HTTP, Txn in the Go API); the JSON then adds txn_size and keys_per_sec, and ops_per_sec counts transactions")
	addCredFlags(fs, &f.cacert, &f.cert, &f.key, &f.token)
	fs.BoolVar(&f.spread, "spread", false, "with --endpoints: spread the clients over every endpoint (client i asks endpoint i mod n first) rather than sending them all to the first that answers; the JSON then adds \"spread\": true")
	fs.StringVar(&f.logLevel, "log-level", "warn", "level of the replicas' logs on stderr: debug, info, warn or error")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured interval (not the setup) to `FILE`")
	fs.StringVar(&f.trace, "trace", "", "write a runtime execution trace of the measured interval to `FILE` (go tool trace; large: keep the run short)")
	fs.StringVar(&f.memProfile, "memprofile", "", "write a heap profile taken after the measured interval, cluster still running, to `FILE`")
	return fs
}

func parseBenchFlags(args []string, stdout, stderr io.Writer) (benchFlags, int, bool) {
	var f benchFlags
	var endpoints string
	fs := benchFlagSet(&f, &endpoints)
	fs.SetOutput(stderr)
	// Parse prints a bad flag's error; the whole usage goes to stdout, and
	// only for --help.
	fs.Usage = func() {}
	hint := "Run 'rsml-node bench --help' for usage."
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stdout, "Usage: rsml-node bench [flags]\n\n%s\n\nFlags:\n", benchAbout)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return f, 0, false
		}
		fmt.Fprintln(stderr, hint)
		return f, 2, false
	}
	set := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if endpoints != "" {
		for _, e := range strings.Split(endpoints, ",") {
			if e = strings.TrimSpace(e); e != "" {
				f.endpoints = append(f.endpoints, e)
			}
		}
	}
	bad := func(format string, a ...any) (benchFlags, int, bool) {
		fmt.Fprintf(stderr, "rsml-node bench: %s\n%s\n", fmt.Sprintf(format, a...), hint)
		return f, 2, false
	}
	_, levelErr := parseLevel(f.logLevel)
	switch {
	case fs.NArg() > 0:
		return bad("unexpected argument %q", fs.Arg(0))
	case f.transport != "memory" && f.transport != "tcp":
		return bad("--transport %q: want memory or tcp", f.transport)
	case f.storage != "memory" && f.storage != "nutsdb":
		return bad("--storage %q: want memory or nutsdb", f.storage)
	case f.nodes < 1 || f.nodes > 7:
		return bad("--nodes %d: want 1 to 7", f.nodes)
	case f.clients < 1:
		return bad("--clients %d: want at least 1", f.clients)
	case f.duration <= 0:
		return bad("--duration %v: want a positive duration", f.duration)
	case f.valueSize < 0 || f.valueSize > 1<<20:
		return bad("--value %d: want 0 to 1048576 bytes", f.valueSize)
	case f.keys < 1:
		return bad("--keys %d: want at least 1", f.keys)
	case levelErr != nil:
		return bad("%v", levelErr)
	case set["endpoints"] && len(f.endpoints) == 0:
		return bad("--endpoints: no URL given")
	case set["txn-size"] && (f.txnSize < 2 || f.txnSize > 1000):
		return bad("--txn-size %d: want 2 to 1000 puts per transaction", f.txnSize)
	case f.spread && len(f.endpoints) < 2:
		return bad("--spread needs --endpoints with at least two URLs")
	}
	if len(f.endpoints) > 0 {
		for _, name := range []string{"transport", "storage", "nodes", "dir"} {
			if set[name] {
				return bad("--%s does not apply with --endpoints: the running cluster has its own", name)
			}
		}
		if _, err := client.New(f.endpoints); err != nil {
			return bad("--endpoints: %v", err)
		}
	}
	return f, 0, true
}

func benchCommand(args []string, stdout, stderr io.Writer) int {
	f, code, ok := parseBenchFlags(args, stdout, stderr)
	if !ok {
		return code
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "rsml-node bench: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	setupCtx, cancel := context.WithTimeout(ctx, benchSetupTimeout)
	var tgt *benchTarget
	var err error
	if len(f.endpoints) > 0 {
		tgt, err = httpTarget(setupCtx, f)
	} else {
		tgt, err = localTarget(setupCtx, f, newLogger(stderr, "text", f.logLevel))
	}
	cancel()
	if err != nil {
		return fail(err)
	}
	res, loadErr := measure(ctx, f, tgt, stderr)
	if err := tgt.stop(); err != nil {
		return fail(fmt.Errorf("stop: %w", err))
	}
	if loadErr != nil {
		return fail(loadErr)
	}
	out, err := json.Marshal(res)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(stdout, string(out))
	return 0
}

// measure runs the load with the optional profiles and makes the result.
func measure(ctx context.Context, f benchFlags, tgt *benchTarget, stderr io.Writer) (benchResult, error) {
	if f.cpuProfile != "" {
		pf, err := os.Create(f.cpuProfile)
		if err != nil {
			return benchResult{}, err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return benchResult{}, err
		}
	}
	if f.trace != "" {
		tf, err := os.Create(f.trace)
		if err != nil {
			return benchResult{}, err
		}
		defer tf.Close()
		if err := trace.Start(tf); err != nil {
			return benchResult{}, err
		}
	}
	bar := newProgress(stderr, f.duration)
	l := runLoad(ctx, loadConfig{put: tgt.put, clients: f.clients, duration: f.duration, txnSize: f.txnSize,
		valueSize: f.valueSize, keys: f.keys, onOp: bar.onOp()})
	bar.stop()
	if f.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if f.trace != "" {
		trace.Stop()
	}
	if ctx.Err() != nil {
		return benchResult{}, errors.New("interrupted")
	}
	if f.memProfile != "" {
		if err := writeHeapProfile(f.memProfile); err != nil {
			return benchResult{}, err
		}
	}
	res := benchResult{
		System: "rsml", Transport: tgt.transport, Storage: tgt.storage, Nodes: tgt.nodes,
		Clients: f.clients, Value: f.valueSize, Keys: f.keys,
		Ops: len(l.lats), Errors: l.errors, Spread: tgt.spread,
		OpsPerSec: math.Round(float64(len(l.lats))/l.elapsed.Seconds()*10) / 10,
		P50us:     percentile(l.lats, 50).Microseconds(),
		P99us:     percentile(l.lats, 99).Microseconds(),
		ElapsedS:  math.Round(l.elapsed.Seconds()*1000) / 1000,
		MaxRSSKB:  maxRSSKB(),
	}
	if f.txnSize >= 2 {
		res.TxnSize = f.txnSize
		res.KeysPerSec = math.Round(float64(len(l.lats)*f.txnSize)/l.elapsed.Seconds()*10) / 10
	}
	return res, nil
}

func writeHeapProfile(path string) error {
	pf, err := os.Create(path)
	if err != nil {
		return err
	}
	runtime.GC() // the profile shows live objects as of the last GC
	if err := pprof.WriteHeapProfile(pf); err != nil {
		pf.Close()
		return err
	}
	return pf.Close()
}

// maxRSSKB is the peak resident set of this process in KiB (0 if unknown).
func maxRSSKB() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return int64(ru.Maxrss) / 1024 // bytes there, KiB on Linux
	}
	return int64(ru.Maxrss)
}
