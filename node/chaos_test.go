package node

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/internal/linearize"
	"github.com/rsml-go/rsml/internal/linearize/kvtxn"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// checkHistory runs porcupine on history with the shared KV model; on a
// violation (or a checker timeout) it fails the test, naming the seed and
// the visualization.
func checkHistory(t *testing.T, history []porcupine.Operation, seed int64) linearize.Verdict {
	t.Helper()
	v, err := linearize.Check(history, fmt.Sprintf("rsml-chaos-%d", seed))
	if err != nil {
		t.Logf("%v", err)
	}
	switch v.Result {
	case porcupine.Ok:
	case porcupine.Unknown:
		// Not a violation: the checker ran out of time. Say so plainly.
		t.Fatalf("linearizability check of %d ops did not finish within %v (seed %d): inconclusive, not a violation; use a shorter RSML_CHAOS_DURATION",
			len(history), v.Limit, seed)
	default:
		t.Fatalf("history of %d ops is %s (seed %d, replay with RSML_CHAOS_SEED=%d); visualization: %s",
			len(history), v.Result, seed, seed, v.Visualization)
	}
	return v
}

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

	// Clients 0-4 read and write single keys; clients 5 and 6 run
	// transactions: the bank (transfers and audits) and random transactions
	// over keys of their own, mixed with single-key ops on those keys. The
	// two groups use separate keys so that porcupine's partitions stay small.
	const (
		clients    = 5
		txnClients = 2
		nkeys      = 4
	)
	keys := make([]string, nkeys)
	txnKeys := make([]string, 3)
	for i := range keys {
		keys[i] = fmt.Sprintf("k%d", i)
	}
	for i := range txnKeys {
		txnKeys[i] = fmt.Sprintf("t%d", i)
	}
	bank := linearize.DefaultBank
	var bankErrs []error

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
		txns, audits                                  atomic.Int64
	}
	// windows are the intervals during which a fault was active; every
	// fault here leaves a majority that can serve, so definite operations
	// must go on during them, not only after healing.
	var (
		winMu   sync.Mutex
		windows [][2]int64
		answers []int64 // when each definite operation returned
	)
	definite := func(at int64) {
		winMu.Lock()
		answers = append(answers, at)
		winMu.Unlock()
	}

	stop := make(chan struct{})
	// The clients' pace is capped so that a history stays within what the
	// checker can hold: porcupine's memory grows with it, and once writes
	// got faster a 30 s run made 690k ops and ran a 24 GiB machine out of
	// memory while checking them. One token per operation, refilled every
	// 10 ms up to opsPerSecond.
	const opsPerSecond = 25000
	tokens := make(chan struct{}, opsPerSecond/100)
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			for range opsPerSecond / 100 {
				select {
				case tokens <- struct{}{}:
				default:
				}
			}
		}
	}()
	var wg sync.WaitGroup
	// The canary writes keys of its own, each once: at the end every key it
	// was told is written must be there, and every key it was told was
	// certainly not proposed (ErrNoLeader, ErrOverloaded, ErrStopped) must
	// not: a write reported as not applied that was applied is caught even
	// when nobody read it.
	var canaryMu sync.Mutex
	canary := map[string]string{} // key -> "ok", "not-applied" or "unknown"
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-tokens:
			}
			nodes := tc.Nodes()
			if len(nodes) == 0 {
				continue
			}
			n := nodes[i%len(nodes)]
			key := fmt.Sprintf("canary/%06d", i)
			// Short deadlines, so that many end while the write is in
			// flight: those must say "unknown", never "not applied".
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(20+i%280)*time.Millisecond)
			_, err := n.Put(ctx, key, []byte("x"), kv.Cond{})
			cancel()
			outcome := "unknown"
			switch {
			case err == nil:
				outcome = "ok"
			case errors.Is(err, ErrNoLeader), errors.Is(err, ErrOverloaded), errors.Is(err, ErrStopped):
				outcome = "not-applied"
			}
			canaryMu.Lock()
			canary[key] = outcome
			canaryMu.Unlock()
		}
	}()
	for c := 0; c < clients+txnClients; c++ {
		rng := rand.New(rand.NewSource(seed + int64(c) + 1))
		wg.Add(1)
		go func(c int, rng *rand.Rand) {
			defer wg.Done()
			lastRev := map[string]uint64{}
			bc := linearize.NewBankClient(bank)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				case <-tokens:
				}
				nodes := tc.Nodes()
				if len(nodes) == 0 {
					time.Sleep(5 * time.Millisecond)
					continue
				}
				n := nodes[rng.Intn(len(nodes))]
				myKeys := keys
				if c >= clients {
					myKeys = txnKeys
				}
				key := myKeys[rng.Intn(len(myKeys))]
				in := linearize.Input{Key: key}
				switch p := rng.Intn(100); {
				case c >= clients && p < 40:
					in = bc.Next(rng.Intn)
				case c >= clients && p < 75:
					in = linearize.RandomTxn(rng.Intn, txnKeys, lastRev, fmt.Sprintf("c%d-%d", c, i))
				case p < 40:
					in.Kind = linearize.Get
				case p < 80:
					in.Kind = linearize.Put
					in.Value = fmt.Sprintf("c%d-%d", c, i)
				default:
					in.Kind = linearize.Delete
				}
				var cond kv.Cond
				if in.Kind == linearize.Put || in.Kind == linearize.Delete {
					switch p := rng.Intn(100); {
					case p < 40:
					case p < 70:
						in.Cond, in.Rev, cond = linearize.CondRev, lastRev[key], kv.IfRev(lastRev[key])
					case p < 85:
						in.Cond, cond = linearize.CondExists, kv.IfExists()
					default:
						in.Cond, cond = linearize.CondAbsent, kv.IfAbsent()
					}
				}
				timeout := time.Duration(500+rng.Intn(1000)) * time.Millisecond
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				call := now()
				var (
					out linearize.Output
					err error
				)
				switch in.Kind {
				case linearize.Get:
					var v []byte
					v, out.Rev, out.Found, err = n.Get(ctx, key)
					out.Value = string(v)
				case linearize.Put:
					var r kv.WriteResult
					r, err = n.Put(ctx, key, []byte(in.Value), cond)
					out.Rev, out.OK, out.Deleted = r.Rev, r.OK, r.Deleted
				case linearize.Delete:
					var r kv.WriteResult
					r, err = n.Delete(ctx, key, cond)
					out.Rev, out.OK, out.Deleted = r.Rev, r.OK, r.Deleted
				case linearize.Txn:
					var r kv.TxnResult
					r, err = n.Txn(ctx, kvtxn.Txn(in.Txn))
					out = kvtxn.Output(r)
				}
				ret := now()
				cancel()
				op := porcupine.Operation{ClientId: c, Input: in, Call: call, Output: out, Return: ret}
				isRead := in.Kind == linearize.Get || in.Kind == linearize.Txn && in.Txn.ReadOnly()
				switch {
				case err == nil:
					if in.Kind == linearize.Get && out.Found {
						lastRev[key] = out.Rev
					} else if in.Kind == linearize.Put && out.OK {
						lastRev[key] = out.Rev
					}
					switch {
					case in.Kind == linearize.Txn:
						stats.txns.Add(1)
						stats.ok.Add(1)
						linearize.LearnRevs(lastRev, in, out)
						bc.Learn(in, out)
						if bank.IsAudit(in) {
							stats.audits.Add(1)
						}
						if err := bank.Check(in, out); err != nil {
							histMu.Lock()
							bankErrs = append(bankErrs, err)
							histMu.Unlock()
						}
					case in.Kind != linearize.Get && !out.OK:
						stats.condFailed.Add(1)
					default:
						stats.ok.Add(1)
					}
					record(op)
				case isRead:
					stats.readsFailed.Add(1) // a failed read changed nothing
				case errors.Is(err, ErrIndeterminate):
					op.Output, op.Return = linearize.Output{Unknown: true}, math.MaxInt64
					stats.unknown.Add(1)
					record(op)
				case errors.Is(err, ErrNoLeader), errors.Is(err, ErrOverloaded), errors.Is(err, ErrStopped):
					stats.dropped.Add(1) // certainly not proposed
				default:
					// The Go API promises one of the errors above: anything
					// else breaks the contract. The outcome is taken as
					// unknown, which keeps the history sound.
					t.Errorf("client %d: %s: an error the API does not promise (seed %d): %v", c, linearize.Describe(in, linearize.Output{Unknown: true}), seed, err)
					op.Output, op.Return = linearize.Output{Unknown: true}, math.MaxInt64
					stats.unknown.Add(1)
					record(op)
				}
				if late := time.Duration(ret-call) - timeout; late > 2*time.Second {
					t.Errorf("client %d: %s returned %v after its deadline (seed %d): a call must end by its deadline",
						c, linearize.Describe(in, linearize.Output{Unknown: true}), late, seed)
				}
				if err == nil {
					definite(ret)
				}
			}
		}(c, rng)
	}

	// The nemesis.
	faults := map[string]int{}
	transfersDone := 0 // transfers that moved leadership where asked
	replaced := 0      // replicas replaced by a new one
	nemesisDone := make(chan struct{})
	var nemesisErr error
	go func() {
		defer close(nemesisDone)
		rng := rand.New(rand.NewSource(seed))
		ids := slices.Clone(tc.IDs())
		nextID := msg.NodeID(len(ids) + 1)
		deadline := time.Now().Add(duration)
		var stopped msg.NodeID
		heal := func() error {
			tc.Net.Heal()
			tc.Net.SetDrop(0)
			tc.Net.SetDelay(0, 0)
			tc.Net.SetDuplicate(0)
			tc.Net.SetReorder(0, 0)
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
			switch rng.Intn(10) {
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
			case 7:
				name = "reorder"
				tc.Net.SetReorder(0.2, 5*time.Millisecond)
			case 8:
				// An operator moves leadership to id, through any replica:
				// the writes in flight must not notice.
				name = "transfer"
				via := tc.Node(ids[rng.Intn(len(ids))])
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				lead, _, err := via.TransferLeadership(ctx, id)
				cancel()
				switch {
				case err == nil && lead == id:
					transfersDone++
				case err == nil:
					nemesisErr = fmt.Errorf("transfer to %d reported success with leader %d", id, lead)
					return
				case !errors.Is(err, ErrTransferTimeout) && !errors.Is(err, ErrNoLeader) && !errors.Is(err, ErrCannotLead):
					nemesisErr = fmt.Errorf("transfer to %d through %d: %w", id, via.ID(), err)
					return
				}
			case 9:
				// An operator replaces replica id: a new replica joins
				// with empty storage, is added, and id is removed and
				// stopped. The clients' writes must not notice.
				name = "replace"
				newID := nextID
				nextID++
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				err := tc.JoinNode(ctx, newID)
				if err == nil {
					_, err = tc.Node(ids[(slices.Index(ids, id)+1)%len(ids)]).AddMember(ctx, membership.Member{ID: newID, Addr: tc.Addr(newID)})
					if err != nil {
						err = fmt.Errorf("add: %w", err)
					}
				}
				if err == nil {
					if _, err = tc.Node(newID).RemoveMember(ctx, id); err != nil {
						err = fmt.Errorf("remove: %w", err)
					}
				}
				if err == nil {
					select {
					case <-tc.Node(id).Removed():
					case <-ctx.Done():
						err = fmt.Errorf("replica %d never learned it was removed", id)
					}
				}
				if err == nil {
					err = tc.StopNode(ctx, id)
				}
				cancel()
				if err != nil {
					var views []string
					for _, n := range tc.Nodes() {
						st := n.Status()
						views = append(views, fmt.Sprintf("%d: leader %d config %d roles %v commit %d applied %d", n.ID(), st.Leader, st.Config, st.Roles, st.Commit, st.Applied))
					}
					nemesisErr = fmt.Errorf("replace replica %d by %d: %w; replicas: %s", id, newID, err, strings.Join(views, "; "))
					return
				}
				ids[slices.Index(ids, id)] = newID
				replaced++
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
			from := now()
			ok := sleep()
			winMu.Lock()
			windows = append(windows, [2]int64{from, now()})
			winMu.Unlock()
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
	t.Logf("ops: %d ok (%d of them transactions, %d bank audits), %d failed condition, %d unknown outcome, %d certainly not applied, %d failed reads",
		stats.ok.Load(), stats.txns.Load(), stats.audits.Load(), stats.condFailed.Load(), stats.unknown.Load(), stats.dropped.Load(), stats.readsFailed.Load())
	for i, err := range bankErrs {
		if i == 5 {
			t.Errorf("... and %d more bank violations", len(bankErrs)-i)
			break
		}
		t.Errorf("%v (seed %d)", err, seed)
	}
	if stats.audits.Load() == 0 {
		t.Errorf("no bank audit succeeded during the chaos (seed %d): the invariant was never checked", seed)
	}
	served := 0
	winMu.Lock()
	for _, w := range windows {
		for _, a := range answers {
			if a >= w[0] && a < w[1] {
				served++
				break
			}
		}
	}
	nwin := len(windows)
	winMu.Unlock()
	t.Logf("definite operations answered during %d of %d fault windows", served, nwin)
	if nwin > 0 && served*2 < nwin {
		t.Errorf("definite operations were answered during only %d of %d fault windows (seed %d): every fault leaves a majority that must serve", served, nwin, seed)
	}

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

	// The canary's keys, read through a linearizable listing.
	present := map[string]bool{}
	after := ""
	for {
		page, err := tc.Nodes()[0].List(ctxFor(t, 10*time.Second), kv.ListRequest{Prefix: "canary/", StartAfter: after, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			present[it.Key] = true
			after = it.Key
		}
		if !page.More {
			break
		}
	}
	canaryMu.Lock()
	var lost, ghosts, okCanary, notApplied int
	for k, o := range canary {
		switch {
		case o == "ok" && !present[k]:
			lost++
			t.Errorf("canary %s was acknowledged and is missing (seed %d)", k, seed)
		case o == "not-applied" && present[k]:
			ghosts++
			t.Errorf("canary %s was reported certainly not proposed, and was applied (seed %d)", k, seed)
		}
		switch o {
		case "ok":
			okCanary++
		case "not-applied":
			notApplied++
		}
	}
	canaryMu.Unlock()
	t.Logf("canary: %d keys written, %d reported not applied; %d lost, %d applied after a 'not applied'", okCanary, notApplied, lost, ghosts)

	histMu.Lock()
	h := history
	histMu.Unlock()
	v := checkHistory(t, h, seed)
	t.Logf("history of %d ops is linearizable (checked in %v)", len(h), v.Elapsed.Round(time.Millisecond))
	nfaults := 0
	var kinds []string
	for k, n := range faults {
		nfaults += n
		kinds = append(kinds, fmt.Sprintf("%s=%d", k, n))
	}
	sort.Strings(kinds)
	// One line in a fixed shape for scripts/chaos.sh's summary.
	t.Logf("chaos-figures: ok=%d cond_failed=%d unknown=%d not_applied=%d reads_failed=%d txns=%d audits=%d faults=%d %s transfers_done=%d replaced=%d check_ms=%d",
		stats.ok.Load(), stats.condFailed.Load(), stats.unknown.Load(), stats.dropped.Load(), stats.readsFailed.Load(),
		stats.txns.Load(), stats.audits.Load(), nfaults, strings.Join(kinds, " "), transfersDone, replaced, v.Elapsed.Milliseconds())
}
