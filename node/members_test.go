package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// Replacing a replica in an in-process cluster: a new one joins with empty
// storage, is added (as a learner, then with every role), catches up and
// serves; the old one is removed, learns it, and the others go on without
// it. Every write acknowledged along the way reads back through the new
// replica.
func TestReplaceAReplica(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	ctx := ctxFor(t, 60*time.Second)
	l := tc.leader()
	put := func(n *Node, i int) {
		t.Helper()
		if _, err := n.Propose(ctx, kv.Put(fmt.Sprintf("k%d", i), []byte(fmt.Sprint(i)))); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for i := range 20 {
		put(l, i)
	}
	if err := tc.JoinNode(ctx, 4); err != nil {
		t.Fatal(err)
	}
	joiner := tc.Node(4)
	if st := joiner.Status(); st.Roles != 0 || st.Config != 1 {
		t.Fatalf("a joiner before it is added: %+v", st)
	}
	// Through a follower: it forwards the change to the leader.
	num, err := tc.follower(l).AddMember(ctx, membership.Member{ID: 4, Addr: tc.Addr(4)})
	if err != nil {
		t.Fatal(err)
	}
	if num != 3 {
		t.Fatalf("config %d after adding, want 3 (learner, then every role)", num)
	}
	waitFor(t, func() bool { st := joiner.Status(); return st.Config == 3 && st.Roles == membership.All })
	for i := 20; i < 40; i++ {
		put(joiner, i)
	}
	// A retry of the same add succeeds and changes nothing.
	if again, err := l.AddMember(ctx, membership.Member{ID: 4, Addr: tc.Addr(4)}); err != nil || again != 3 {
		t.Fatalf("retried add: config %d, %v", again, err)
	}
	for _, bad := range []membership.Member{{ID: 4, Addr: "elsewhere"}, {ID: 5, Addr: tc.Addr(1)}} {
		if _, err := l.AddMember(ctx, bad); !errors.Is(err, ErrMemberConflict) {
			t.Fatalf("add %+v: %v, want ErrMemberConflict", bad, err)
		}
	}
	if _, err := l.RemoveMember(ctx, 9); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("remove a stranger: %v, want ErrMemberConflict", err)
	}

	// Remove the first replica, through the new one.
	num, err = joiner.RemoveMember(ctx, 1)
	if err != nil || num != 4 {
		t.Fatalf("remove 1: config %d, %v", num, err)
	}
	old := tc.Node(1)
	select {
	case <-old.Removed():
	case <-ctx.Done():
		t.Fatal("replica 1 never learned it was removed")
	}
	var rest []*Node
	for _, id := range []msg.NodeID{2, 3, 4} {
		rest = append(rest, tc.Node(id))
	}
	waitFor(t, func() bool {
		for _, n := range rest {
			if st := n.Status(); st.Config != 4 || st.Leader == 0 || st.Leader == 1 {
				return false
			}
		}
		return true
	})
	if err := tc.StopNode(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := 40; i < 60; i++ {
		put(rest[i%3], i)
	}
	for i := range 60 {
		v, _, found, err := joiner.Get(ctx, fmt.Sprintf("k%d", i))
		if err != nil || !found || string(v) != fmt.Sprint(i) {
			t.Fatalf("read k%d through the new replica: %q, %v", i, v, err)
		}
	}
	_, members := rest[0].Members()
	var ids []msg.NodeID
	for _, m := range members {
		ids = append(ids, m.ID)
	}
	if !slices.Equal(ids, []msg.NodeID{2, 3, 4}) {
		t.Fatalf("members %v, want 2 3 4", ids)
	}
	if _, err := rest[0].AddMember(ctx, membership.Member{ID: 1, Addr: tc.Addr(1)}); !errors.Is(err, ErrMemberConflict) {
		t.Fatalf("re-adding a removed id: %v, want ErrMemberConflict", err)
	}
}

// An observer (a learner without acceptor or proposer) applies every write
// and serves reads, takes writes and forwards them, and never leads.
func TestObserver(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	ctx := ctxFor(t, 30*time.Second)
	l := tc.leader()
	if err := tc.JoinNode(ctx, 4); err != nil {
		t.Fatal(err)
	}
	num, err := l.AddMember(ctx, membership.Member{ID: 4, Addr: tc.Addr(4), Roles: membership.Learner})
	if err != nil || num != 2 {
		t.Fatalf("add an observer: config %d, %v; want 2 (one change)", num, err)
	}
	obs := tc.Node(4)
	waitFor(t, func() bool { st := obs.Status(); return st.Config == 2 && st.Roles == membership.Learner })
	for i := range 20 {
		if _, err := obs.Propose(ctx, kv.Put(fmt.Sprintf("o%d", i), []byte("v"))); err != nil {
			t.Fatalf("write through the observer: %v", err)
		}
	}
	if v, _, found, err := obs.Get(ctx, "o19"); err != nil || !found || string(v) != "v" {
		t.Fatalf("linearizable read through the observer: %q %v %v", v, found, err)
	}
	if _, _, err := l.TransferLeadership(ctx, 4); !errors.Is(err, ErrCannotLead) {
		t.Fatalf("transfer to the observer: %v, want ErrCannotLead", err)
	}
	if st := obs.Status(); st.IsLeader {
		t.Fatal("the observer leads")
	}
}

// Role sets of the first configuration (the config file's role lists): a
// replica started as an observer applies and serves but never leads, and
// the other two make every quorum.
func TestFirstConfigurationRoles(t *testing.T) {
	tc := startCluster(t, 3, Config{Roles: map[msg.NodeID]membership.Roles{3: membership.Learner}})
	ctx := ctxFor(t, 30*time.Second)
	l := tc.leader()
	if l.ID() == 3 {
		t.Fatal("the observer leads")
	}
	obs := tc.Node(3)
	if st := obs.Status(); st.Roles != membership.Learner || st.Config != 1 {
		t.Fatalf("observer status: %+v", st)
	}
	if _, err := obs.Propose(ctx, kv.Put("k", []byte("v"))); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.TransferLeadership(ctx, 3); !errors.Is(err, ErrCannotLead) {
		t.Fatalf("transfer to the observer: %v, want ErrCannotLead", err)
	}
	// The observer counts in no quorum: with the other acceptor down, the
	// leader and the observer cannot choose anything.
	other := msg.NodeID(3 - l.ID())
	if err := tc.StopNode(ctx, other); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := l.Propose(short, kv.Put("k2", []byte("v"))); err == nil {
		t.Fatal("a write was chosen with one acceptor of two down: the observer counted in a quorum")
	}
}

// A replica becomes an acceptor only once it has caught up: one added while
// it does not run stays a learner, and the promotion is refused until it
// runs and has the log.
func TestPromotionWaitsForCatchUp(t *testing.T) {
	tc := startCluster(t, 3, Config{})
	ctx := ctxFor(t, 60*time.Second)
	l := tc.leader()
	for i := range 50 {
		if _, err := l.Propose(ctx, kv.Put(fmt.Sprintf("k%d", i), []byte("v"))); err != nil {
			t.Fatal(err)
		}
	}
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := l.AddMember(short, membership.Member{ID: 4, Addr: tc.Addr(4)})
	if !errors.Is(err, ErrNotCaughtUp) {
		t.Fatalf("adding a replica that does not run: %v, want ErrNotCaughtUp", err)
	}
	num, ms := l.Members()
	if m, ok := (&membership.Config{Num: num, Members: ms}).Member(4); num != 2 || !ok || m.Roles != membership.Learner {
		t.Fatalf("config %d %+v: want 4 a learner in config 2", num, ms)
	}
	if got := testutil.ToFloat64(l.metrics.changesWaited.WithLabelValues("not_caught_up")); got == 0 {
		t.Error("no refused promotion counted")
	}
	if err := tc.JoinNode(ctx, 4); err != nil {
		t.Fatal(err)
	}
	if num, err := l.AddMember(ctx, membership.Member{ID: 4, Addr: tc.Addr(4)}); err != nil || num != 3 {
		t.Fatalf("add once it runs: config %d, %v; want 3", num, err)
	}
	if got := tc.Node(4).Status().Applied; got < 50 {
		t.Fatalf("promoted with %d slots applied, before it had the log", got)
	}
}

// A replica runs its acceptor only while the configuration gives it a
// vote: an observer's acceptor is a stand-in that drops what reaches it;
// promoted, the replica votes (a write needs it once another acceptor is
// down); demoted, the stand-in is back.
func TestAcceptorRunsOnlyWithAVote(t *testing.T) {
	tc := startCluster(t, 3, Config{Roles: map[msg.NodeID]membership.Roles{3: membership.Learner}})
	ctx := ctxFor(t, 60*time.Second)
	obs := tc.Node(3)
	drops := func() float64 { return testutil.ToFloat64(obs.metrics.dropped.WithLabelValues("role_not_run")) }
	standIn := func() {
		t.Helper()
		before := drops()
		waitFor(t, func() bool {
			// Again each time: the first may precede the stand-in's spawn
			// (a dead letter), and the real acceptor answers, not counts.
			obs.sys.Root.Send(actor.NewPID(obs.sys.Address(), remote.ActorName(msg.RoleAcceptor)),
				&msg.Truncate{}) // a no-op for a running acceptor
			return drops() > before
		})
	}
	standIn()
	l := tc.leader()
	if _, err := l.AddMember(ctx, membership.Member{ID: 3, Addr: tc.Addr(3)}); err != nil {
		t.Fatal(err)
	}
	// With 3 voting, the leader and 3 are a majority of {1, 2, 3}.
	if err := tc.StopNode(ctx, 3-l.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Propose(ctx, kv.Put("k", []byte("v"))); err != nil {
		t.Fatalf("write with the promoted replica's vote: %v", err)
	}
	if err := tc.StartNode(ctx, 3-l.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := l.changeMembers(ctx, membership.SetRoles, membership.Member{ID: 3, Addr: tc.Addr(3), Roles: membership.Learner}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return obs.commit.Load() >= l.commit.Load() })
	standIn()
}
