package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// ---------------------------------------------------------------------------
// The linearizability model of the KV store, for porcupine.
//
// The history is partitioned by key (operations on different keys commute in
// the spec), so a state is one key's: whether it exists, its value, its rev.
//
// Where the model is lenient (it accepts more than the real store could do,
// never less, so it cannot reject a linearizable history):
//   - revs are global in the store, but partitioning by key only checks that
//     the revs of one key's writes grow in linearization order, not the
//     interleaving with other keys' revs;
//   - a write whose outcome is unknown (ErrIndeterminate, a deadline) may
//     apply or not; if it applies, its rev is unknown, so the key's rev is
//     marked unknown: a later Get of that key accepts any rev (and then learns
//     it), and a later IfRev write of that key may succeed or fail, until the
//     next write with a known rev sets the key again;
//   - an unknown write does not raise the "highest rev seen" bound.

type chaosOpKind uint8

const (
	opGet chaosOpKind = iota
	opPut
	opDelete
)

type chaosCond uint8

const (
	condNone chaosCond = iota
	condRev
	condExists
	condAbsent
)

// chaosInput is what a client asked for.
type chaosInput struct {
	Kind  chaosOpKind
	Key   string
	Value string    // Put
	Cond  chaosCond // Put/Delete
	Rev   uint64    // condRev
}

// chaosOutput is what a client got back. Unknown marks a write whose outcome
// is unknown (its Return is math.MaxInt64).
type chaosOutput struct {
	Unknown bool
	// Get
	Found bool
	Value string
	// Get (the key's rev) and writes (the rev the write consumed)
	Rev uint64
	// writes
	OK      bool
	Deleted bool
}

// chaosState is one key's state in one possible linearization.
type chaosState struct {
	Exists     bool
	Value      string
	Rev        uint64 // valid if Exists && !RevUnknown
	RevUnknown bool   // set by an unknown-outcome put that applied
	MaxRev     uint64 // highest rev a write of this key is known to have consumed
}

// condHolds says whether c certainly holds (yes) or certainly fails (no) in s;
// both are true when it cannot be told (an IfRev on an unknown rev).
func condHolds(s chaosState, in chaosInput) (mayHold, mayFail bool) {
	switch in.Cond {
	case condNone:
		return true, false
	case condExists:
		return s.Exists, !s.Exists
	case condAbsent:
		return !s.Exists, s.Exists
	case condRev:
		if !s.Exists {
			return false, true
		}
		if s.RevUnknown {
			return true, true // lenient: see the comment at the top
		}
		return s.Rev == in.Rev, s.Rev != in.Rev
	}
	return false, false
}

// applyWrite returns s after in applied, with rev the write's rev (known
// false: unknown).
func applyWrite(s chaosState, in chaosInput, rev uint64, known bool) chaosState {
	switch in.Kind {
	case opPut:
		s.Exists, s.Value = true, in.Value
		s.Rev, s.RevUnknown = rev, !known
	case opDelete:
		s.Exists, s.Value, s.Rev, s.RevUnknown = false, "", 0, false
	}
	return s
}

func chaosStep(state, input, output any) []any {
	s := state.(chaosState)
	in := input.(chaosInput)
	out := output.(chaosOutput)
	if in.Kind == opGet {
		if out.Unknown { // never recorded: failed reads are dropped
			return []any{s}
		}
		if out.Found != s.Exists {
			return nil
		}
		if !s.Exists {
			return []any{s}
		}
		if out.Value != s.Value {
			return nil
		}
		if s.RevUnknown {
			// Lenient on the rev; learn it for the rest of this linearization.
			s.Rev, s.RevUnknown = out.Rev, false
			return []any{s}
		}
		if out.Rev != s.Rev {
			return nil
		}
		return []any{s}
	}

	mayHold, mayFail := condHolds(s, in)
	if out.Unknown {
		// Applied or not: both are possible (linearizing it last, after
		// everything, is "never applied" too, but the model allows it here
		// so that it can be linearized anywhere).
		var next []any
		if mayHold {
			next = append(next, applyWrite(s, in, 0, false))
		}
		next = append(next, s)
		return next
	}
	// A known write: its rev is after every rev this key has seen.
	if out.Rev <= s.MaxRev {
		return nil
	}
	if out.OK {
		if !mayHold {
			return nil
		}
		if in.Kind == opDelete && out.Deleted != s.Exists {
			return nil
		}
		n := applyWrite(s, in, out.Rev, true)
		n.MaxRev = out.Rev
		return []any{n}
	}
	// The condition failed: it must not hold, and nothing changed. An
	// unconditional write never fails.
	if !mayFail || out.Deleted {
		return nil
	}
	s.MaxRev = out.Rev
	return []any{s}
}

func chaosPartition(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	for _, op := range history {
		k := op.Input.(chaosInput).Key
		byKey[k] = append(byKey[k], op)
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]porcupine.Operation
	for _, k := range keys {
		out = append(out, byKey[k])
	}
	return out
}

func describeCond(in chaosInput) string {
	switch in.Cond {
	case condRev:
		return fmt.Sprintf(" if rev=%d", in.Rev)
	case condExists:
		return " if exists"
	case condAbsent:
		return " if absent"
	}
	return ""
}

func describeChaosOp(input, output any) string {
	in := input.(chaosInput)
	out := output.(chaosOutput)
	var b strings.Builder
	switch in.Kind {
	case opGet:
		fmt.Fprintf(&b, "get(%s) -> ", in.Key)
		if out.Found {
			fmt.Fprintf(&b, "%q@%d", out.Value, out.Rev)
		} else {
			b.WriteString("absent")
		}
		return b.String()
	case opPut:
		fmt.Fprintf(&b, "put(%s=%q%s) -> ", in.Key, in.Value, describeCond(in))
	case opDelete:
		fmt.Fprintf(&b, "delete(%s%s) -> ", in.Key, describeCond(in))
	}
	switch {
	case out.Unknown:
		b.WriteString("unknown")
	case out.OK:
		fmt.Fprintf(&b, "ok@%d", out.Rev)
		if out.Deleted {
			b.WriteString(" deleted")
		}
	default:
		fmt.Fprintf(&b, "cond failed@%d", out.Rev)
	}
	return b.String()
}

func describeChaosState(state any) string {
	s := state.(chaosState)
	if !s.Exists {
		return fmt.Sprintf("absent (max rev %d)", s.MaxRev)
	}
	rev := strconv.FormatUint(s.Rev, 10)
	if s.RevUnknown {
		rev = "?"
	}
	return fmt.Sprintf("%q@%s (max rev %d)", s.Value, rev, s.MaxRev)
}

var chaosModel = (&porcupine.NondeterministicModel{
	Partition:         chaosPartition,
	Init:              func() []any { return []any{chaosState{}} },
	Step:              chaosStep,
	Equal:             func(a, b any) bool { return a.(chaosState) == b.(chaosState) },
	DescribeOperation: describeChaosOp,
	DescribeState:     describeChaosState,
}).ToModel()

// checkHistory runs porcupine on history; on a violation (or a checker
// timeout) it writes the visualization and fails the test.
func checkHistory(t *testing.T, history []porcupine.Operation, seed int64) porcupine.CheckResult {
	t.Helper()
	// The check's cost grows with the history: a minute plus a second per
	// 5,000 operations (a 30s run records about 500,000).
	limit := time.Minute + time.Duration(len(history)/5000)*time.Second
	res, info := porcupine.CheckOperationsVerbose(chaosModel, history, limit)
	if res == porcupine.Ok {
		return res
	}
	if res == porcupine.Unknown {
		// Not a violation: the checker ran out of time. Say so plainly.
		t.Fatalf("linearizability check of %d ops did not finish within %v (seed %d): inconclusive, not a violation; use a shorter RSML_CHAOS_DURATION",
			len(history), limit, seed)
	}
	path := filepath.Join(os.TempDir(), fmt.Sprintf("rsml-chaos-%d-%d.html", seed, time.Now().UnixNano()))
	if err := porcupine.VisualizePath(chaosModel, info, path); err != nil {
		t.Logf("visualization: %v", err)
	}
	t.Fatalf("history of %d ops is %s (seed %d, replay with RSML_CHAOS_SEED=%d); visualization: %s",
		len(history), res, seed, seed, path)
	return res
}

// ---------------------------------------------------------------------------

// TestChaosModelCatchesStaleRead shows the checker can fail: a read that
// returns an overwritten value after the overwrite was acknowledged.
func TestChaosModelCatchesStaleRead(t *testing.T) {
	op := func(client int, in chaosInput, call int64, out chaosOutput, ret int64) porcupine.Operation {
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
	}
	base := []porcupine.Operation{
		op(0, chaosInput{Kind: opPut, Key: "x", Value: "a"}, 0, chaosOutput{Rev: 1, OK: true}, 10),
		op(0, chaosInput{Kind: opPut, Key: "x", Value: "b"}, 20, chaosOutput{Rev: 2, OK: true}, 30),
	}
	stale := append(append([]porcupine.Operation(nil), base...),
		op(1, chaosInput{Kind: opGet, Key: "x"}, 40, chaosOutput{Found: true, Value: "a", Rev: 1}, 50))
	if res, _ := porcupine.CheckOperationsVerbose(chaosModel, stale, 10*time.Second); res != porcupine.Illegal {
		t.Fatalf("stale read: checker says %s, want %s", res, porcupine.Illegal)
	}
	fresh := append(append([]porcupine.Operation(nil), base...),
		op(1, chaosInput{Kind: opGet, Key: "x"}, 40, chaosOutput{Found: true, Value: "b", Rev: 2}, 50))
	if res, _ := porcupine.CheckOperationsVerbose(chaosModel, fresh, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("fresh read: checker says %s, want %s", res, porcupine.Ok)
	}
	// A read concurrent with the overwrite may see either value.
	concurrent := append(append([]porcupine.Operation(nil), base...),
		op(1, chaosInput{Kind: opGet, Key: "x"}, 25, chaosOutput{Found: true, Value: "a", Rev: 1}, 50))
	if res, _ := porcupine.CheckOperationsVerbose(chaosModel, concurrent, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("concurrent read: checker says %s, want %s", res, porcupine.Ok)
	}
	// An unknown write may have applied: a later read of its value is fine,
	// and so is a later read of the old value; a wrong rev on a known key is not.
	unknown := append(append([]porcupine.Operation(nil), base...),
		op(2, chaosInput{Kind: opPut, Key: "x", Value: "c"}, 35, chaosOutput{Unknown: true}, math.MaxInt64),
		op(1, chaosInput{Kind: opGet, Key: "x"}, 40, chaosOutput{Found: true, Value: "c", Rev: 7}, 50),
		op(1, chaosInput{Kind: opPut, Key: "x", Value: "d", Cond: condRev, Rev: 7}, 60, chaosOutput{Rev: 8, OK: true}, 70))
	if res, _ := porcupine.CheckOperationsVerbose(chaosModel, unknown, 10*time.Second); res != porcupine.Ok {
		t.Fatalf("unknown write: checker says %s, want %s", res, porcupine.Ok)
	}
	badRev := append(append([]porcupine.Operation(nil), base...),
		op(1, chaosInput{Kind: opPut, Key: "x", Value: "d", Cond: condRev, Rev: 1}, 40, chaosOutput{Rev: 3, OK: true}, 50))
	if res, _ := porcupine.CheckOperationsVerbose(chaosModel, badRev, 10*time.Second); res != porcupine.Illegal {
		t.Fatalf("IfRev on an overwritten rev succeeded: checker says %s, want %s", res, porcupine.Illegal)
	}
}

// ---------------------------------------------------------------------------

// TestChaosLinearizable runs clients against a 3-replica cluster while a
// nemesis injects faults, records the history and checks it is linearizable.
func TestChaosLinearizable(t *testing.T) {
	if testing.Short() {
		t.Skip("chaos test skipped in -short mode")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("RSML_CHAOS_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("RSML_CHAOS_SEED: %v", err)
		}
		seed = v
	}
	duration := 8 * time.Second
	if s := os.Getenv("RSML_CHAOS_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("RSML_CHAOS_DURATION: %v", err)
		}
		duration = d
	}
	// The seed fixes the nemesis's and the clients' choices; goroutine
	// scheduling (and the cluster seed startCluster logs) still vary.
	t.Logf("chaos seed %d (replay the nemesis and clients with RSML_CHAOS_SEED=%d), duration %v", seed, seed, duration)

	tc := startCluster(t, 3, Config{})
	tc.leader()

	const (
		clients = 5
		nkeys   = 4
	)
	keys := make([]string, nkeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}

	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) } // monotonic

	var (
		histMu  sync.Mutex
		history []porcupine.Operation
	)
	record := func(op porcupine.Operation) {
		histMu.Lock()
		history = append(history, op)
		histMu.Unlock()
	}
	var stats struct {
		ok, condFailed, unknown, dropped, readsFailed atomic.Int64
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < clients; c++ {
		rng := rand.New(rand.NewSource(seed + int64(c) + 1))
		wg.Add(1)
		go func(c int, rng *rand.Rand) {
			defer wg.Done()
			lastRev := map[string]uint64{}
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				nodes := tc.Nodes()
				if len(nodes) == 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				n := nodes[rng.Intn(len(nodes))]
				key := keys[rng.Intn(len(keys))]
				in := chaosInput{Key: key}
				switch p := rng.Intn(100); {
				case p < 40:
					in.Kind = opGet
				case p < 80:
					in.Kind = opPut
					in.Value = fmt.Sprintf("c%d-%d", c, i)
				default:
					in.Kind = opDelete
				}
				var cond kv.Cond
				if in.Kind != opGet {
					switch p := rng.Intn(100); {
					case p < 40:
					case p < 70:
						in.Cond, in.Rev, cond = condRev, lastRev[key], kv.IfRev(lastRev[key])
					case p < 85:
						in.Cond, cond = condExists, kv.IfExists()
					default:
						in.Cond, cond = condAbsent, kv.IfAbsent()
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(500+rng.Intn(1000))*time.Millisecond)
				call := now()
				var (
					out chaosOutput
					err error
				)
				switch in.Kind {
				case opGet:
					var v []byte
					v, out.Rev, out.Found, err = n.Get(ctx, key)
					out.Value = string(v)
				case opPut:
					var r kv.WriteResult
					r, err = n.Put(ctx, key, []byte(in.Value), cond)
					out.Rev, out.OK, out.Deleted = r.Rev, r.OK, r.Deleted
				case opDelete:
					var r kv.WriteResult
					r, err = n.Delete(ctx, key, cond)
					out.Rev, out.OK, out.Deleted = r.Rev, r.OK, r.Deleted
				}
				ret := now()
				cancel()
				op := porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret}
				switch {
				case err == nil:
					if in.Kind == opGet && out.Found {
						lastRev[key] = out.Rev
					} else if in.Kind == opPut && out.OK {
						lastRev[key] = out.Rev
					}
					if in.Kind != opGet && !out.OK {
						stats.condFailed.Add(1)
					} else {
						stats.ok.Add(1)
					}
					record(op)
				case in.Kind == opGet:
					stats.readsFailed.Add(1) // a failed read changed nothing
				case errors.Is(err, ErrIndeterminate):
					op.Output, op.Return = chaosOutput{Unknown: true}, math.MaxInt64
					stats.unknown.Add(1)
					record(op)
				case errors.Is(err, ErrNoLeader), errors.Is(err, ErrOverloaded), errors.Is(err, ErrStopped):
					stats.dropped.Add(1) // certainly not proposed
				default:
					// Anything else (a bare deadline, an unexpected error):
					// assume the outcome is unknown, which is always sound.
					t.Logf("client %d: %s: unexpected error, outcome taken as unknown: %v", c, describeChaosOp(in, chaosOutput{Unknown: true}), err)
					op.Output, op.Return = chaosOutput{Unknown: true}, math.MaxInt64
					stats.unknown.Add(1)
					record(op)
				}
			}
		}(c, rng)
	}

	// The nemesis.
	faults := map[string]int{}
	nemesisDone := make(chan struct{})
	var nemesisErr error
	go func() {
		defer close(nemesisDone)
		rng := rand.New(rand.NewSource(seed))
		ids := tc.IDs()
		deadline := time.Now().Add(duration)
		var stopped msg.NodeID
		heal := func() error {
			tc.Net.Heal()
			tc.Net.SetDrop(0)
			tc.Net.SetDelay(0, 0)
			tc.Net.SetDuplicate(0)
			if stopped != 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := tc.StartNode(ctx, stopped); err != nil {
					return fmt.Errorf("restart replica %d: %w", stopped, err)
				}
				stopped = 0
			}
			return nil
		}
		sleep := func() bool {
			select {
			case <-stop:
				return false
			case <-time.After(time.Duration(100+rng.Intn(200)) * time.Millisecond):
				return true
			}
		}
		for time.Now().Before(deadline) {
			id := ids[rng.Intn(len(ids))]
			var name string
			switch rng.Intn(7) {
			case 0:
				name = "isolate"
				tc.Net.Isolate(id)
			case 1:
				name = "partition"
				var rest []msg.NodeID
				for _, o := range ids {
					if o != id {
						rest = append(rest, o)
					}
				}
				tc.Net.Partition([]msg.NodeID{id}, rest)
			case 2:
				name = "drop"
				tc.Net.SetDrop(0.2)
			case 3:
				name = "delay"
				tc.Net.SetDelay(0, 5*time.Millisecond)
			case 4:
				name = "duplicate"
				tc.Net.SetDuplicate(0.1)
			case 5:
				role := msg.RoleProposer + msg.Role(rng.Intn(4))
				name = "crash-" + role.String()
				if n := tc.Node(id); n != nil {
					n.InjectCrash(role)
				}
			case 6:
				name = "restart"
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := tc.StopNode(ctx, id)
				cancel()
				if err != nil {
					nemesisErr = fmt.Errorf("stop replica %d: %w", id, err)
					return
				}
				stopped = id
			}
			faults[name]++
			ok := sleep()
			if err := heal(); err != nil {
				nemesisErr = err
				return
			}
			if !ok || !sleep() {
				return
			}
		}
	}()

	select {
	case <-nemesisDone:
	case <-time.After(duration + 60*time.Second):
		t.Fatalf("nemesis hung (seed %d)", seed)
	}
	close(stop)
	clientsDone := make(chan struct{})
	go func() { wg.Wait(); close(clientsDone) }()
	select {
	case <-clientsDone:
	case <-time.After(30 * time.Second):
		t.Fatalf("clients hung after the chaos (seed %d)", seed)
	}
	if nemesisErr != nil {
		t.Fatalf("nemesis (seed %d): %v", seed, nemesisErr)
	}
	t.Logf("faults injected: %v", faults)
	t.Logf("ops: %d ok, %d failed condition, %d unknown outcome, %d certainly not applied, %d failed reads",
		stats.ok.Load(), stats.condFailed.Load(), stats.unknown.Load(), stats.dropped.Load(), stats.readsFailed.Load())

	// Liveness: once healed, a write commits within a bound.
	if len(tc.Nodes()) != 3 {
		t.Fatalf("only %d replicas running after healing", len(tc.Nodes()))
	}
	liveStart := time.Now()
	liveCtx, liveCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer liveCancel()
	for {
		nodes := tc.Nodes()
		_, err := nodes[0].Put(liveCtx, "liveness", []byte("x"), kv.Cond{})
		if err == nil {
			break
		}
		if liveCtx.Err() != nil {
			for _, n := range tc.Nodes() {
				t.Logf("replica %d: %+v", n.ID(), n.Status())
			}
			t.Fatalf("no write committed within 10s of healing (seed %d): %v", seed, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("a write committed %v after healing", time.Since(liveStart).Round(time.Millisecond))
	tc.checkSameSequence()

	histMu.Lock()
	h := history
	histMu.Unlock()
	checkStart := time.Now()
	checkHistory(t, h, seed)
	t.Logf("history of %d ops is linearizable (checked in %v)", len(h), time.Since(checkStart).Round(time.Millisecond))
}
