package sim

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"
)

// envInt reads a positive integer from the environment.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// runSeeds runs cfg for seeds first..first+n-1 on every core and returns the
// results in seed order. Each run is single-threaded and independent, so
// running them side by side changes nothing in any of them.
func runSeeds(first uint64, n int, cfg func(seed uint64) Config) []*Result {
	results := make([]*Result, n)
	var wg sync.WaitGroup
	next := make(chan int)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				results[i] = Run(cfg(first + uint64(i)))
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// TestSimSeeds runs RSML_SIM_SEEDS seeds (default 100) from RSML_SIM_FIRST
// (default 1) and fails, naming the seed, on any violation. RSML_SIM_SEED=n
// runs only seed n, verbosely. RSML_SIM_REPLICAS and RSML_SIM_TICKS change
// the cluster size and the chaos phase's length; RSML_SIM_MSGS=1 logs every
// message a role receives.
func TestSimSeeds(t *testing.T) {
	if v := os.Getenv("RSML_SIM_SEED"); v != "" {
		seed, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("RSML_SIM_SEED=%q: %v", v, err)
		}
		res := Run(Config{Seed: seed, Replicas: envInt(t, "RSML_SIM_REPLICAS", 0), ChaosTicks: envInt(t, "RSML_SIM_TICKS", 0),
			Spares: envInt(t, "RSML_SIM_SPARES", 0), Witnesses: envInt(t, "RSML_SIM_WITNESSES", 0), Alpha: envInt(t, "RSML_SIM_ALPHA", 0),
			LogMessages: os.Getenv("RSML_SIM_MSGS") != "", Logf: t.Logf})
		t.Log(res.Summary())
		if res.Failed() {
			t.Fatalf("seed %d failed; see above", seed)
		}
		return
	}
	n := envInt(t, "RSML_SIM_SEEDS", 100)
	first := uint64(envInt(t, "RSML_SIM_FIRST", 1))
	replicas := envInt(t, "RSML_SIM_REPLICAS", 0)
	ticks := envInt(t, "RSML_SIM_TICKS", 0)
	spares := envInt(t, "RSML_SIM_SPARES", 0)
	sweep(t, n, first, "", func(seed uint64) Config {
		return Config{Seed: seed, Replicas: replicas, ChaosTicks: ticks, Spares: spares}
	})
}

// TestSimReconfig runs RSML_SIM_RECONFIG_SEEDS seeds (default 100, 40 under
// the race detector), and half as many of 5 replicas with α = 2, of a
// cluster of 3 with 2 spare replicas, whose nemesis also changes the
// membership (adds spares as observers or full members, promotes, demotes,
// removes) amid its other faults, and fails on any violation. Every run
// checks the membership too: the executors' states, compared at every
// applied slot, carry it.
func TestSimReconfig(t *testing.T) {
	def := 100
	if raceEnabled {
		def = 40 // make test's run; make chaos runs 1000 without the detector
	}
	n := envInt(t, "RSML_SIM_RECONFIG_SEEDS", def)
	first := uint64(envInt(t, "RSML_SIM_FIRST", 1))
	msgs := sweep(t, n, first, " RSML_SIM_SPARES=2 RSML_SIM_WITNESSES=1", func(seed uint64) Config {
		return Config{Seed: seed, Replicas: 3, Spares: 2, Witnesses: 1}
	})
	if msgs.Witnesses > 0 && msgs.WitnessTruncations == 0 {
		t.Errorf("%d promotions made a witness, and no witness ever truncated: the floors never came", msgs.Witnesses)
	}
	if msgs.Changes < n/2 || msgs.Promotions < n/10 || msgs.Witnesses < n/40 {
		t.Errorf("%d membership changes, %d making an acceptor, %d a witness, in %d runs: the nemesis hardly reconfigured",
			msgs.Changes, msgs.Promotions, msgs.Witnesses, n)
	}
	// Five acceptors and α = 2: configurations whose majorities need not
	// overlap once a replica lags by two changes, and slots that cross a
	// change at nearly every step of the window.
	msgs = sweep(t, n/2, first, " RSML_SIM_REPLICAS=5 RSML_SIM_SPARES=2 RSML_SIM_ALPHA=2", func(seed uint64) Config {
		return Config{Seed: seed, Replicas: 5, Spares: 2, Alpha: 2}
	})
	if msgs.Changes < n/2 {
		t.Errorf("%d membership changes in %d runs of 5 replicas: the nemesis hardly reconfigured", msgs.Changes, n/2)
	}
}

// sweep runs the seeds of cfg, reports on them and fails on any violation.
// replay is the environment a failing seed's replay needs.
func sweep(t *testing.T, n int, first uint64, replay string, cfg func(seed uint64) Config) Messages {
	start := time.Now()
	results := runSeeds(first, n, cfg)
	var ops Ops
	faults := map[string]int{}
	failed, maxLive := 0, 0
	var msgs Messages
	for _, r := range results {
		ops.WritesOK += r.Ops.WritesOK
		ops.CondFailed += r.Ops.CondFailed
		ops.Unknown += r.Ops.Unknown
		ops.NotApplied += r.Ops.NotApplied
		ops.Refused += r.Ops.Refused
		ops.ReadsOK += r.Ops.ReadsOK
		ops.ReadsFailed += r.Ops.ReadsFailed
		ops.Txns += r.Ops.Txns
		ops.Audits += r.Ops.Audits
		msgs.Sent += r.Messages.Sent
		msgs.Dropped += r.Messages.Dropped
		msgs.Duplicated += r.Messages.Duplicated
		msgs.Installs += r.Messages.Installs
		msgs.Handovers += r.Messages.Handovers
		msgs.Changes += r.Messages.Changes
		msgs.ChangesRefused += r.Messages.ChangesRefused
		msgs.Promotions += r.Messages.Promotions
		msgs.Witnesses += r.Messages.Witnesses
		msgs.WitnessTruncations += r.Messages.WitnessTruncations
		maxLive = max(maxLive, r.LivenessTicks)
		for k, v := range r.Faults {
			faults[k] += v
		}
		if r.Failed() {
			failed++
			t.Errorf("%s\nreplay:%s RSML_SIM_SEED=%d go test -run TestSimSeeds -v ./sim", r.Summary(), replay, r.Seed)
		}
	}
	t.Logf("%d runs in %v: %d client ops (%d ok writes, %d cond failed, %d unknown, %d not applied, %d refused, %d reads, %d failed reads; %d transactions answered, %d bank audits)",
		n, time.Since(start).Round(time.Millisecond), ops.Total(), ops.WritesOK, ops.CondFailed, ops.Unknown, ops.NotApplied,
		ops.Refused, ops.ReadsOK, ops.ReadsFailed, ops.Txns, ops.Audits)
	t.Logf("faults: %s", FormatCounts(faults))
	t.Logf("messages: %d sent, %d dropped, %d duplicated; %d snapshot installs; %d leadership handovers; slowest recovery after healing: %d ticks",
		msgs.Sent, msgs.Dropped, msgs.Duplicated, msgs.Installs, msgs.Handovers, maxLive)
	t.Logf("membership changes: %d chosen and valid (%d made an acceptor, %d of them a witness), %d refused where chosen; %d witness truncations",
		msgs.Changes, msgs.Promotions, msgs.Witnesses, msgs.ChangesRefused, msgs.WitnessTruncations)
	t.Logf("violations: %d failing runs", failed)
	return msgs
}
