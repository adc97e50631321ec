package sim

import (
	"os"
	"reflect"
	"runtime"
	"testing"
)

// TestSimDeterministic runs seeds twice and requires the same trace of every
// delivered message (contents included) and every client outcome: a run is a
// function of its seed, so a failing seed replays exactly.
func TestSimDeterministic(t *testing.T) {
	for _, seed := range []uint64{3, 11} {
		cfg := Config{Seed: seed, TraceMessages: true}
		a, b := Run(cfg), Run(cfg)
		if a.Trace != b.Trace || !reflect.DeepEqual(a.History, b.History) || a.Messages != b.Messages {
			t.Fatalf("seed %d ran differently twice: traces %x and %x, messages %+v and %+v",
				seed, a.Trace, b.Trace, a.Messages, b.Messages)
		}
		if a.Messages.Delivered == 0 || len(a.History) == 0 {
			t.Fatalf("seed %d did nothing: %s", seed, a.Summary())
		}
	}
	if Run(Config{Seed: 3, TraceMessages: true}).Trace == Run(Config{Seed: 4, TraceMessages: true}).Trace {
		t.Fatal("seeds 3 and 4 have the same trace: the trace does not reflect the run")
	}
}

// searchPlanted runs seeds until one shows a violation of one of kinds, and
// fails if none does within limit seeds: a checker that cannot fail proves
// nothing.
func searchPlanted(t *testing.T, limit int, cfg Config, kinds ...Kind) *Result {
	t.Helper()
	dir := t.TempDir()
	batch := runtime.GOMAXPROCS(0)
	for first := 1; first <= limit; first += batch {
		results := runSeeds(uint64(first), min(batch, limit-first+1), func(seed uint64) Config {
			c := cfg
			c.Seed, c.VisualizeDir = seed, dir
			return c
		})
		for _, res := range results {
			for _, k := range kinds {
				if res.Has(k) {
					t.Logf("planted bug caught at seed %d: %s", res.Seed, res.Summary())
					return res
				}
			}
		}
	}
	t.Fatalf("no seed in 1..%d showed a %v violation with %+v planted", limit, kinds, cfg.Bugs)
	return nil
}

// TestPlantedLossyAcceptorLog: an acceptor that loses its last appends in a
// crash (a missing fsync) breaks Paxos; the agreement checker must see two
// values chosen for one slot.
func TestPlantedLossyAcceptorLog(t *testing.T) {
	// Crashes are what lose the writes; partitions and delays make the
	// lost acceptances matter by moving the quorum.
	cfg := Config{Bugs: Bugs{LossyAcceptorLog: 8}, Faults: []string{"crash", "isolate", "delay"}}
	searchPlanted(t, 300, cfg, Agreement)
}

// TestPlantedEarlyAck: a write answered when proposed rather than when
// chosen is lost when its leader is deposed first; the lost-write checker
// must see the answered slot hold another value.
func TestPlantedEarlyAck(t *testing.T) {
	searchPlanted(t, 300, Config{Bugs: Bugs{EarlyAck: true}, Faults: []string{"crash", "isolate", "split"}}, LostWrite)
}

// TestPlantedHoldReleasesUnchosen: a leader whose hold, when it ends, tells
// the learners that slots still in flight are chosen gets clients answered
// for slots a later leader fills with other values. The simulator runs the
// production batching path (the intake, the hold and its timer), so the
// checkers must see it.
func TestPlantedHoldReleasesUnchosen(t *testing.T) {
	searchPlanted(t, 300, Config{Bugs: Bugs{HoldReleasesUnchosen: true}, Faults: []string{"crash", "isolate", "split"}},
		Agreement, LostWrite, Linearizability, Quorum)
}

// TestPlantedBlindTxn: a store that runs transactions without checking their
// conditions lets transfers made on stale balances change the bank's total;
// the audit must see it, and porcupine must reject the history too.
func TestPlantedBlindTxn(t *testing.T) {
	cfg := Config{Bugs: Bugs{BlindTxn: true}, BankPercent: 40}
	searchPlanted(t, 100, cfg, Invariant)
	searchPlanted(t, 100, cfg, Linearizability)
}

// TestPlantedStaleReads: gets served from a replica's state without a read
// index can miss acknowledged writes; porcupine must catch it.
func TestPlantedStaleReads(t *testing.T) {
	res := searchPlanted(t, 100, Config{Bugs: Bugs{StaleReads: true}}, Linearizability)
	if res.Visualization == "" {
		t.Fatal("a linearizability violation wrote no visualization")
	}
	if _, err := os.Stat(res.Visualization); err != nil {
		t.Fatalf("visualization: %v", err)
	}
}

// TestPlantedDivergentExecutor: one replica's state machine applies commands
// differently; the equal-state checker must see its snapshot differ.
func TestPlantedDivergentExecutor(t *testing.T) {
	searchPlanted(t, 20, Config{Bugs: Bugs{DivergentExecutor: true}}, Divergence)
}

// TestPlantedNeverHeal: with the network cut for good after the chaos, no
// write can commit; the liveness checker must say so.
func TestPlantedNeverHeal(t *testing.T) {
	searchPlanted(t, 5, Config{Bugs: Bugs{NeverHeal: true}}, Liveness)
}

// TestSimFiveReplicas runs a few seeds of a 5-replica cluster.
func TestSimFiveReplicas(t *testing.T) {
	for _, r := range runSeeds(1, 10, func(seed uint64) Config { return Config{Seed: seed, Replicas: 5} }) {
		if r.Failed() {
			t.Errorf("%s\nreplay: RSML_SIM_SEED=%d RSML_SIM_REPLICAS=5 go test -run TestSimSeeds -v ./sim", r.Summary(), r.Seed)
		}
	}
}
