package node

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

func received(w *waiter) []any {
	var out []any
	for {
		select {
		case m := <-w.ch:
			out = append(out, m)
		default:
			return out
		}
	}
}

// A waiter is reused after close; an answer addressed to its earlier use
// (a late result of a call that gave up) must not reach the new caller; it
// is counted as dropped.
func TestWaiterAnswerForClosedWaiterIsDropped(t *testing.T) {
	drops := map[string]int{}
	tab := newWaiters("inc-", func(r string) { drops[r]++ })
	first := tab.open()
	oldRef := first.ref
	tab.deliver(oldRef, "early") // sits in the channel when the call gives up
	tab.close(first)
	second := tab.open()
	if second != first {
		t.Log("the pool did not hand the waiter back; the check still holds")
	}
	if second.ref == oldRef {
		t.Fatalf("a name was reused: %q", oldRef)
	}
	tab.deliver(oldRef, "late")
	if got := received(second); len(got) != 0 {
		t.Fatalf("a new caller got answers of an earlier call: %v", got)
	}
	if drops[dropLateAnswer] != 1 || len(drops) != 1 {
		t.Fatalf("drops %v, want the late answer's", drops)
	}
	tab.deliver(second.ref, "mine")
	if got := received(second); len(got) != 1 || got[0] != "mine" {
		t.Fatalf("got %v, want [mine]", got)
	}
	tab.close(second)
}

// Names carry the incarnation: a replica restarted in the same process has a
// new table, and answers naming the old one's waiters find nothing.
func TestWaiterOtherIncarnationDropped(t *testing.T) {
	drops := map[string]int{}
	old, cur := newWaiters("aaa-", nil), newWaiters("bbb-", func(r string) { drops[r]++ })
	wOld := old.open()
	w := cur.open()
	if wOld.ref[len(old.prefix):] != w.ref[len(cur.prefix):] {
		t.Fatalf("keys differ (%q, %q): the test needs equal keys", wOld.ref, w.ref)
	}
	for _, ref := range []string{wOld.ref, "", "w", cur.prefix, cur.prefix + "!!", cur.prefix + "zzzzzzzzzzzzzzzzzz"} {
		cur.deliver(ref, ref)
	}
	if got := received(w); len(got) != 0 {
		t.Fatalf("answers for other names arrived: %q", got)
	}
	if drops[dropLateAnswer] != 6 || len(drops) != 1 {
		t.Fatalf("drops %v, want 6 late answers", drops)
	}
}

// A full channel drops (and counts) extra answers instead of blocking the
// executor.
func TestWaiterDeliverNeverBlocks(t *testing.T) {
	drops := map[string]int{}
	tab := newWaiters("x-", func(r string) { drops[r]++ })
	w := tab.open()
	for i := 0; i < 3*cap(w.ch); i++ {
		tab.deliver(w.ref, i)
	}
	if got := received(w); len(got) != cap(w.ch) {
		t.Fatalf("%d answers kept, want %d", len(got), cap(w.ch))
	}
	if drops[dropExtraAnswer] != 2*cap(w.ch) || len(drops) != 1 {
		t.Fatalf("drops %v, want %d extra answers", drops, 2*cap(w.ch))
	}
}

// A peer's answer (encoded over TCP) reaches the waiter it names through the
// replica's one waiters process; answers of another cluster, or naming a
// waiter that gave up, are dropped.
func TestPeersAnswersReachTheirWaiter(t *testing.T) {
	tab := newWaiters("p-", func(string) {})
	var drops []string
	proc := remote.NewWaiters("c1", tab.deliver, func(reason string, _ error) { drops = append(drops, reason) })
	w, other := tab.open(), tab.open()
	enc := func(cluster string, m any) any {
		a, err := remote.Encode(cluster, m)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	proc.SendUserMessage(nil, remote.WaiterEnvelope(w.ref, enc("c1", &msg.Reject{Reason: msg.RejectNoLeader, Attempt: 2})))
	proc.SendUserMessage(nil, remote.WaiterEnvelope(w.ref, enc("c2", &msg.ReadIndex{Index: 10}))) // another cluster
	proc.SendUserMessage(nil, remote.WaiterEnvelope(w.ref, enc("c1", &msg.ReadIndex{Index: 9})))
	proc.SendUserMessage(nil, remote.WaiterEnvelope(other.ref, enc("c1", &msg.ReadIndex{Index: 11})))
	got := received(w)
	if len(got) != 2 {
		t.Fatalf("got %d answers %v, want the Reject and the ReadIndex", len(got), got)
	}
	if r, ok := got[0].(*msg.Reject); !ok || r.Attempt != 2 {
		t.Errorf("first answer %#v", got[0])
	}
	if r, ok := got[1].(*msg.ReadIndex); !ok || r.Index != 9 {
		t.Errorf("second answer %#v", got[1])
	}
	if got := received(other); len(got) != 1 || got[0].(*msg.ReadIndex).Index != 11 {
		t.Errorf("the other waiter got %v, want its ReadIndex", got)
	}
	if len(drops) != 1 || drops[0] != remote.DropForeignCluster {
		t.Errorf("drops %v, want one %s", drops, remote.DropForeignCluster)
	}
	ref := w.ref
	tab.close(w)
	proc.SendUserMessage(nil, remote.WaiterEnvelope(ref, enc("c1", &msg.ReadIndex{Index: 12}))) // after its caller gave up
	w = tab.open()
	if got := received(w); len(got) != 0 {
		t.Errorf("a reopened waiter got %v", got)
	}
	tab.close(w)
	tab.close(other)
}

// A reused waiter's timer carries no tick from its earlier use. With Go
// 1.23's timers that holds by itself; a program built with an older go.mod
// or GODEBUG=asynctimerchan=1 keeps fired ticks in the channel, and
// resetTimer must drain them (make test runs this with that setting too).
func TestResetTimerLeavesNoStaleTick(t *testing.T) {
	tm := time.NewTimer(time.Millisecond)
	<-time.After(20 * time.Millisecond) // let it fire, unread
	resetTimer(tm, time.Hour)
	select {
	case <-tm.C:
		t.Fatal("a tick from before the reset was received")
	default:
	}
	stopTimer(tm)
}

// gatedStore holds every Apply once armed, until released, and says when the
// first one arrived: the command was chosen, so the request that carried it
// has been forwarded and its caller is still waiting.
type gatedStore struct {
	*kv.Store
	armed    *atomic.Bool
	applying chan struct{}
	once     *sync.Once
	release  chan struct{}
}

func (g gatedStore) Apply(rev uint64, cmd []byte) []byte {
	if g.armed.Load() {
		g.once.Do(func() { close(g.applying) })
		<-g.release
	}
	return g.Store.Apply(rev, cmd)
}

// registered counts the processes in sys's registry.
func registered(sys *actor.ActorSystem) int {
	n := 0
	for _, m := range sys.ProcessRegistry.LocalPIDs.LocalPIDs {
		n += m.Count()
	}
	return n
}

// A request a follower forwards to the leader registers no process on the
// follower while its caller waits: the leader's answer comes through the
// follower's one waiters process. (Proto.Actor's registry keeps the buckets
// that per-request processes spread over it: about 10 MB on a replica that
// forwarded a few ten thousand requests.)
func TestForwardedRequestRegistersNoProcess(t *testing.T) {
	var armed atomic.Bool
	applying, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	ctx := ctxFor(t, 20*time.Second)
	c, err := StartCluster(ctx, ClusterConfig{Nodes: 3, Template: Config{Logger: testLogger()},
		NewStateMachine: func(msg.NodeID) executor.StateMachine {
			return gatedStore{Store: kv.New(), armed: &armed, applying: applying, once: &once, release: release}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	l, err := c.WaitLeader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var f *Node
	for _, n := range c.Nodes() {
		if n.ID() != l.ID() {
			f = n
			break
		}
	}
	if r, err := f.Put(ctx, "warm", []byte("up"), kv.Cond{}); err != nil || !r.OK {
		t.Fatalf("put: %+v %v", r, err)
	}
	before := registered(f.sys)
	armed.Store(true)
	done := make(chan error, 1)
	go func() {
		_, err := f.Put(ctx, "k", []byte("v"), kv.Cond{})
		done <- err
	}()
	select {
	case <-applying:
	case <-ctx.Done():
		t.Fatal("the forwarded put was never applied")
	}
	during := registered(f.sys)
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("forwarded put: %v", err)
	}
	if during != before {
		t.Errorf("the follower's registry held %d processes while a forwarded request waited, %d before", during, before)
	}
}

// A running replica counts the answers its waiters drop, by reason.
func TestReplicaCountsDroppedAnswers(t *testing.T) {
	tc := startCluster(t, 1, Config{})
	n := tc.leader()
	count := func(reason string) float64 { return testutil.ToFloat64(n.metrics.dropped.WithLabelValues(reason)) }
	w := n.waiters.open()
	for range cap(w.ch) + 1 {
		n.waiters.deliver(w.ref, &msg.ReadIndex{Index: 1})
	}
	ref := w.ref
	n.waiters.close(w)
	n.waiters.deliver(ref, &msg.ReadIndex{Index: 2})
	if late, extra := count(dropLateAnswer), count(dropExtraAnswer); late != 1 || extra != 1 {
		t.Fatalf("counted %v late and %v extra answers, want 1 and 1", late, extra)
	}
}
