package sim

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/rsml-go/rsml/actors/proposer"
)

// Config describes one simulated run. Every field but Seed has a default
// for its zero value, so Config{Seed: n} is a complete run.
type Config struct {
	// Seed fixes every choice of the run: same seed, same run.
	Seed uint64
	// Replicas is the cluster size (default 3; 5 and 7 work too).
	Replicas int
	// Spares are replicas outside the first configuration (ids after
	// Replicas'), with empty storage: the nemesis adds them, and removes
	// members, with "reconfig" faults, which only runs with spares get.
	Spares int
	// Witnesses are how many of the spares (the last ones) run as
	// witnesses: no state machine, an acceptor log truncated behind the
	// full replicas' snapshots. The nemesis gives them the acceptor role
	// only, and no client uses them.
	Witnesses int
	// Alpha is how many slots after it is chosen a membership change
	// takes effect (default 8, below the proposers' window of 16, so
	// that the gate that keeps leaders within α of their commit point is
	// exercised).
	Alpha int
	// Clients is the number of concurrent workload clients (default 4).
	Clients int
	// Keys is how many keys the clients share (default 3): few keys mean
	// many conflicting operations for the checker to judge.
	Keys int
	// TxnPercent is the share of operations that are transactions over the
	// shared keys (default 10; negative: none).
	TxnPercent int
	// BankPercent is the share of operations that are bank transactions:
	// opening the accounts, transfers between them, audits of their total
	// (default 10; negative: none).
	BankPercent int
	// ChaosTicks is how long the nemesis injects faults (default 600).
	ChaosTicks int
	// LivenessTicks bounds, after every fault is healed, the ticks until a
	// new write commits (default 300), and again until every replica has
	// applied it and the final reads are answered.
	LivenessTicks int
	// Faults limits the nemesis to these kinds (see FaultKinds); empty
	// means all of them.
	Faults []string
	// Bugs plants deliberate bugs, to show that the checkers catch them.
	Bugs Bugs
	// TraceMessages hashes every delivered message's contents into
	// Result.Trace (slower); otherwise only its time, ends and type count.
	TraceMessages bool
	// Logf, if not nil, receives a line per fault, client operation and
	// leadership change: the verbose replay of one seed.
	Logf func(format string, args ...any)
	// LogMessages adds a Logf line for every message a role receives, with
	// the role's state after it: the fine-grained replay of one seed.
	LogMessages bool
	// VisualizeDir is where a failing run writes porcupine's HTML
	// visualization ("" means os.TempDir()).
	VisualizeDir string
}

// Bugs are deliberate faults that a correct system does not have. They exist
// so that tests can show each checker fails when it should; a run with any of
// them set proves nothing about rsml.
type Bugs struct {
	// LossyAcceptorLog > 0 makes the last LossyAcceptorLog records each
	// acceptor appended vanish when its replica crashes: a missing fsync.
	LossyAcceptorLog int
	// StaleReads makes gets read the chosen replica's state as it is,
	// without a read index.
	StaleReads bool
	// DivergentExecutor makes replica 1's state machine write an extra key on
	// every fourth rev, so its state drifts from the others'.
	DivergentExecutor bool
	// NeverHeal keeps every replica cut off from every other after the chaos.
	NeverHeal bool
	// EarlyAck answers a write as soon as a leader proposes it (before it
	// is chosen): a leader deposed before its slot is chosen leaves a
	// "successful" write that the agreed log does not hold.
	EarlyAck bool
	// BlindTxn makes every replica's store run a transaction's Then branch
	// without checking its conditions: transfers made on stale balances
	// create or destroy money.
	BlindTxn bool
	// HoldReleasesUnchosen makes a leader's hold, when it ends, tell the
	// learners that every slot it proposed is chosen: a client is answered
	// before its slot is chosen (proposer.Planted.ReleaseUnchosen).
	HoldReleasesUnchosen bool
}

// hold is the proposer's share of the planted bugs.
func (b Bugs) hold() proposer.Planted {
	return proposer.Planted{ReleaseUnchosen: b.HoldReleasesUnchosen}
}

func (c *Config) setDefaults() {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Replicas, 3)
	def(&c.Alpha, 8)
	def(&c.Clients, 4)
	def(&c.Keys, 3)
	for _, p := range []*int{&c.TxnPercent, &c.BankPercent} {
		switch {
		case *p == 0:
			*p = 10
		case *p < 0:
			*p = 0
		}
	}
	def(&c.ChaosTicks, 600)
	def(&c.LivenessTicks, 300)
}

// Kind names what a violation broke; planted-bug tests match on it.
type Kind string

// The checkers' verdicts.
const (
	// Linearizability: porcupine found no legal order for the history.
	Linearizability Kind = "linearizability"
	// CheckerTimeout: porcupine did not finish; inconclusive, but fails the run.
	CheckerTimeout Kind = "checker-timeout"
	// Agreement: two replicas stored different values as chosen for one slot.
	Agreement Kind = "agreement"
	// Divergence: two executors' snapshots differ at the same applied slot.
	Divergence Kind = "divergence"
	// Quorum: a value stored as chosen that no majority of its slot's
	// acceptors (by the membership the agreed log gives that slot) ever
	// durably accepted in one ballot.
	Quorum Kind = "quorum"
	// Promise: a leader proposed at a slot before a majority of that
	// slot's acceptors (by the agreed log's membership) promised its
	// ballot.
	Promise Kind = "promise"
	// WrongConfig: a leader proposed at a slot more than α past its commit
	// point (where it cannot know the slot's configuration), or sent an
	// Accept to a replica that is not an acceptor of the slot's
	// configuration by the agreed log.
	WrongConfig Kind = "config"
	// LostWrite: an acknowledged write is not in the agreed log where its
	// answer said, or a replica's rev stayed below it.
	LostWrite Kind = "lost-write"
	// Liveness: after healing, a write, the catch-up or a read did not
	// complete within the bound.
	Liveness Kind = "liveness"
	// CoreError: a core returned an error or could not be rebuilt from storage.
	CoreError Kind = "core-error"
	// Session: the executor refused a client's current write as stale or as
	// of an expired session, which no client here should ever see.
	Session Kind = "session"
	// Panic: a core panicked.
	Panic Kind = "panic"
	// Invariant: a bank audit saw the accounts' total change, or some
	// accounts without the others.
	Invariant Kind = "invariant"
	// WitnessTruncation: a witness made durable a truncation point that a
	// replica with state had not in a durable snapshot, or a full acceptor
	// left while one that stays had not delivered what a witness dropped:
	// the witness's copies of those slots may have been their last.
	WitnessTruncation Kind = "witness-truncation"
)

// Violation is one thing a checker found wrong.
type Violation struct {
	Kind   Kind
	Detail string
}

// String is the kind and the detail, as a failing run prints them.
func (v Violation) String() string { return string(v.Kind) + ": " + v.Detail }

// Ops counts client operations by outcome.
type Ops struct {
	WritesOK, CondFailed, Unknown, NotApplied, Refused int
	ReadsOK, ReadsFailed                               int
	// Txns counts the transactions among the answered operations above,
	// Audits the bank audits among those.
	Txns, Audits int
}

// Total is every operation a client started.
func (o Ops) Total() int {
	return o.WritesOK + o.CondFailed + o.Unknown + o.NotApplied + o.Refused + o.ReadsOK + o.ReadsFailed
}

// Messages counts what the simulated network did.
type Messages struct {
	Sent, Delivered, Dropped, Duplicated int
	// Installs counts peers' snapshots handed to an executor: replicas that
	// fell behind the others' truncated logs.
	Installs int
	// Handovers counts campaigns a leader's TimeoutNow started (leadership
	// transfers that reached their target).
	Handovers int
	// Changes counts membership changes chosen and valid, and
	// ChangesRefused those chosen but refused where they were applied.
	Changes, ChangesRefused int
	// Promotions counts the valid changes that made a replica an
	// acceptor: each had caught up, by its leader's check.
	Promotions int
	// Witnesses counts the promotions that made a witness an acceptor, and
	// WitnessTruncations the truncation points witnesses made durable.
	Witnesses, WitnessTruncations int
}

// Result is what one run did and what its checkers found.
type Result struct {
	Seed  uint64
	Ticks int
	Ops   Ops
	// Faults counts injected faults by kind.
	Faults   map[string]int
	Messages Messages
	// LivenessTicks is how many ticks after healing the liveness write
	// committed (-1 if it did not).
	LivenessTicks int
	Violations    []Violation
	// Trace hashes every delivered message and every client outcome: two
	// runs with the same seed must have the same Trace.
	Trace uint64
	// History is the client history given to porcupine.
	History []porcupine.Operation
	// Visualization is the path of porcupine's HTML rendering of a failing
	// run's history ("" for a passing run).
	Visualization string
}

// Failed reports whether any checker found a violation.
func (r *Result) Failed() bool { return len(r.Violations) > 0 }

// Has reports whether a violation of kind k was found.
func (r *Result) Has(k Kind) bool {
	for _, v := range r.Violations {
		if v.Kind == k {
			return true
		}
	}
	return false
}

// Summary is a one-line account of the run.
func (r *Result) Summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d: %d ticks, %d ops (%d ok writes, %d cond failed, %d unknown, %d reads; %d txns, %d audits), msgs %d sent %d dropped %d dup, faults %s",
		r.Seed, r.Ticks, r.Ops.Total(), r.Ops.WritesOK, r.Ops.CondFailed, r.Ops.Unknown, r.Ops.ReadsOK, r.Ops.Txns, r.Ops.Audits,
		r.Messages.Sent, r.Messages.Dropped, r.Messages.Duplicated, FormatCounts(r.Faults))
	for _, v := range r.Violations {
		fmt.Fprintf(&b, "\n  VIOLATION %s", v)
	}
	if r.Visualization != "" {
		fmt.Fprintf(&b, "\n  visualization: %s", r.Visualization)
	}
	return b.String()
}

// FormatCounts renders counts in key order, so logs are stable.
func FormatCounts(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return "{" + strings.Join(parts, " ") + "}"
}
