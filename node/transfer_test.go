package node

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// Leadership moves to each follower in turn, and to "any other" replica,
// while writers run through every replica: every transfer lands on the
// replica asked for, no write fails, and the replicas agree.
func TestTransferLeadershipUnderLoad(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	tc.leader() // the writes' latencies are the transfers', not the first election's
	a := newAcked()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	var slowest time.Duration
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				n := tc.Node(tc.IDs()[(w+i)%3])
				key, val := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("v%d", i)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				r, err := n.Put(ctx, key, []byte(val), kv.Cond{})
				took := time.Since(start)
				cancel()
				mu.Lock()
				slowest = max(slowest, took)
				if err != nil {
					failures = append(failures, fmt.Sprintf("%s via %d: %v", key, n.ID(), err))
				}
				mu.Unlock()
				if err == nil {
					a.add(key, val, r.Rev)
				}
			}
		})
	}
	for round := range 6 {
		l := tc.leader()
		var target msg.NodeID // rounds 4 and 5: any other replica
		if round < 4 {
			target = tc.follower(l).ID()
			if round%2 == 1 {
				for _, id := range tc.IDs() {
					if id != l.ID() && id != target {
						target = id
					}
				}
			}
		}
		old := l.Status().Ballot
		caller := tc.Node(tc.IDs()[round%3]) // any replica may ask
		got, ballot, err := caller.TransferLeadership(ctxFor(t, 5*time.Second), target)
		if err != nil {
			t.Fatalf("round %d: transfer from %d to %d asked at %d: %v", round, l.ID(), target, caller.ID(), err)
		}
		if (target != 0 && got != target) || got == l.ID() || !old.Less(ballot) {
			t.Fatalf("round %d: transfer from %d to %d: leader %d at %s", round, l.ID(), target, got, ballot)
		}
		// Writes go on under the new leader before the next handover.
		waitFor(t, func() bool { return a.len() > 20*(round+1) })
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d writes failed during the transfers, first: %s", len(failures), failures[0])
	}
	t.Logf("%d writes, none failed; the slowest took %v", a.len(), slowest)
	// Each handover was counted by its leader, from start to handing over.
	count := func(outcome string) (total float64) {
		for _, n := range tc.Nodes() {
			total += testutil.ToFloat64(n.metrics.transfers.WithLabelValues(outcome))
		}
		return total
	}
	waitFor(t, func() bool { return count("handed_over") == 6 })
	if started, abandoned := count("started"), count("abandoned"); started != 6 || abandoned != 0 {
		t.Fatalf("transfers counted: %v started, %v abandoned; want 6 and 0", started, abandoned)
	}
	a.check(tc)
	tc.checkSameSequence()
}

// A handover to a replica that is down does not happen: once the leader has
// not heard it for an election timeout, the call ends with ErrCannotLead
// (well before its deadline), and the leader leads on.
func TestTransferToADownReplicaIsRefused(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	f := tc.follower(l)
	if err := tc.StopNode(ctxFor(t, 5*time.Second), f.ID()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := l.TransferLeadership(ctx, f.ID())
	if !errors.Is(err, ErrCannotLead) || ctx.Err() != nil {
		t.Fatalf("transfer to the stopped replica %d: %v (ctx %v), want ErrCannotLead before the deadline", f.ID(), err, ctx.Err())
	}
	if _, err := l.Put(ctxFor(t, 5*time.Second), "after", []byte("x"), kv.Cond{}); err != nil {
		t.Fatalf("a write after the failed transfer: %v", err)
	}
	if got := tc.leader(); got.ID() != l.ID() {
		t.Fatalf("leader %d after a failed transfer, want %d still", got.ID(), l.ID())
	}
	_, _, err = l.TransferLeadership(ctxFor(t, time.Second), 9)
	if !errors.Is(err, ErrCannotLead) {
		t.Fatalf("transfer to a replica that is not a member: %v, want ErrCannotLead", err)
	}
}

// POST /v1/leader, through a follower.
func TestHTTPLeaderTransfer(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	f := tc.follower(l)
	srv := httptest.NewServer(f.Handler(HTTPConfig{}))
	defer srv.Close()
	u := srv.URL + "/v1/leader"

	r := do(t, "POST", u, fmt.Appendf(nil, `{"id": "%d"}`, f.ID()))
	if r.code != 200 || !strings.Contains(string(r.body), fmt.Sprintf(`"leader":"%d"`, f.ID())) || !strings.Contains(string(r.body), `"ballot":"`) {
		t.Fatalf("POST /v1/leader to %d: %d %s", f.ID(), r.code, r.body)
	}
	if r := do(t, "POST", u, []byte(`{}`)); r.code != 200 || strings.Contains(string(r.body), fmt.Sprintf(`"leader":"%d"`, f.ID())) {
		t.Fatalf("POST /v1/leader {} from leader %d: %d %s; want another replica", f.ID(), r.code, r.body)
	}
	for _, tt := range []struct {
		method, body string
		code         int
	}{
		{"POST", `{"id": "9"}`, 409},
		{"POST", `{"id": "x"}`, 400},
		{"POST", `{"id": 2}`, 400},
		{"POST", `not json`, 400},
		{"GET", ``, 405},
	} {
		if r := do(t, tt.method, u, []byte(tt.body)); r.code != tt.code {
			t.Errorf("%s /v1/leader %s: %d %s, want %d", tt.method, tt.body, r.code, r.body, tt.code)
		}
	}
}

// A handover the target never hears of (the leader's messages to it are
// cut, though it was heard a moment ago) is abandoned after an election
// timeout: the leader leads on, and logs and counts it.
func TestTransferNotTakenIsAbandoned(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	l := tc.leader()
	f := tc.follower(l)
	tc.Net.Block(l.ID(), f.ID())
	_, _, err := l.TransferLeadership(ctxFor(t, 2*time.Second), f.ID())
	tc.Net.Heal()
	if !errors.Is(err, ErrCannotLead) && !errors.Is(err, ErrTransferTimeout) {
		t.Fatalf("transfer to %d, cut off from the leader: %v, want ErrCannotLead or ErrTransferTimeout", f.ID(), err)
	}
	abandoned := testutil.ToFloat64(l.metrics.transfers.WithLabelValues("abandoned"))
	handed := testutil.ToFloat64(l.metrics.transfers.WithLabelValues("handed_over"))
	if abandoned < 1 || handed != 0 {
		t.Fatalf("leader %d counted %v abandoned, %v handed over; want at least 1 and 0", l.ID(), abandoned, handed)
	}
	if _, err := l.Put(ctxFor(t, 5*time.Second), "after", []byte("x"), kv.Cond{}); err != nil {
		t.Fatalf("a write after the abandoned transfer: %v", err)
	}
}
