package remote

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/rsml-go/rsml/msg"
)

// failsafe bounds every wait on an event; reaching it fails the test.
const failsafe = 10 * time.Second

// note is the message the tests send: who sent it and its number.
type note struct {
	from msg.NodeID
	seq  int
}

func newSystem(t testing.TB) *actor.ActorSystem {
	t.Helper()
	sys := actor.NewActorSystem(
		actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
			return slog.New(slog.NewTextHandler(io.Discard, nil))
		}),
		// A dead letter starts a goroutine that lives for this interval (1 s by
		// default, longer than goleak waits); keep it short.
		actor.WithDeadLetterThrottleInterval(time.Millisecond),
	)
	t.Cleanup(sys.Shutdown) // Shutdown panics if called twice: only here
	return sys
}

// replica is one attached system with a sink actor at ActorName(RoleAcceptor)
// that forwards every note it receives to inbox.
type replica struct {
	id    msg.NodeID
	sys   *actor.ActorSystem
	book  *Book
	inbox chan *note
}

type cluster struct {
	t   *testing.T
	net *Network
	ids []msg.NodeID
	r   map[msg.NodeID]*replica
}

func newCluster(t *testing.T, seed int64, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, net: NewNetwork(seed), r: make(map[msg.NodeID]*replica)}
	t.Cleanup(c.net.Close)
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, msg.NodeID(i))
	}
	for _, id := range c.ids {
		c.start(id)
	}
	return c
}

// start attaches a fresh system as replica id (a restart if id ran before).
func (c *cluster) start(id msg.NodeID) *replica {
	c.t.Helper()
	sys := newSystem(c.t)
	c.net.Attach(id, sys)
	book, err := NewBook(id, c.net.Addrs(c.ids...))
	if err != nil {
		c.t.Fatal(err)
	}
	r := &replica{id: id, sys: sys, book: book, inbox: make(chan *note, 4096)}
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*note); ok {
			r.inbox <- m
		}
	})
	if _, err := sys.Root.SpawnNamed(props, ActorName(msg.RoleAcceptor)); err != nil {
		c.t.Fatal(err)
	}
	c.r[id] = r
	return r
}

// send sends note seq from replica from to the acceptor of replica to.
func (c *cluster) send(from, to msg.NodeID, seq int) {
	r := c.r[from]
	r.sys.Root.Send(r.book.PID(to, msg.RoleAcceptor), &note{from: from, seq: seq})
}

// expect waits for the next note at replica to and checks it.
func (c *cluster) expect(to, from msg.NodeID, seq int) {
	c.t.Helper()
	select {
	case m := <-c.r[to].inbox:
		if m.from != from || m.seq != seq {
			c.t.Fatalf("replica %d got note %d from %d, want note %d from %d", to, m.seq, m.from, seq, from)
		}
	case <-time.After(failsafe):
		c.t.Fatalf("replica %d: no note %d from %d", to, seq, from)
	}
}

// expectDropped sends seq from -> to and checks the network counted it
// dropped. A later marker on the same link proves it was not delivered either:
// every note a replica gets is expected in order.
func (c *cluster) expectDropped(from, to msg.NodeID, seq int) {
	c.t.Helper()
	before := c.net.Stats().Dropped
	c.send(from, to, seq)
	if got := c.net.Stats().Dropped; got != before+1 {
		c.t.Fatalf("%d -> %d: Dropped went %d -> %d, want +1", from, to, before, got)
	}
}

// marker proves nothing is pending at replica to from replica from: it sends a
// note that must be the very next one to arrive.
func (c *cluster) marker(from, to msg.NodeID, seq int) {
	c.t.Helper()
	c.send(from, to, seq)
	c.expect(to, from, seq)
}

func (c *cluster) checkBalanced() {
	c.t.Helper()
	s := c.net.Stats()
	if s.Sent+s.Duplicated != s.Delivered+s.Dropped+s.DeadLetters {
		c.t.Errorf("stats do not balance: %+v", s)
	}
}

func TestDeliverAcrossSystems(t *testing.T) {
	c := newCluster(t, 1, 3)
	for _, from := range c.ids {
		for _, to := range c.ids {
			if from != to {
				c.marker(from, to, int(from)*10+int(to))
			}
		}
	}
	if s := c.net.Stats(); s.Sent != 6 || s.Delivered != 6 || s.Dropped != 0 || s.DeadLetters != 0 {
		t.Errorf("stats %+v, want 6 sent and delivered", s)
	}
}

// TestRoleActorNames checks that ActorName matches the ids protoactor gives
// role actors spawned under the SupervisorName parent, end to end.
func TestRoleActorNames(t *testing.T) {
	net := NewNetwork(1)
	t.Cleanup(net.Close)
	got := make(chan string, 8)
	var sys1 *actor.ActorSystem
	for _, id := range []msg.NodeID{1, 2} {
		sys := newSystem(t)
		net.Attach(id, sys)
		if id == 1 {
			sys1 = sys
			continue
		}
		child := actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(string); ok {
				got <- ctx.Self().Address + " " + ctx.Self().Id + " " + m
			}
		})
		ready := make(chan error, 1)
		parent := actor.PropsFromFunc(func(ctx actor.Context) {
			if _, ok := ctx.Message().(*actor.Started); ok {
				var err error
				for _, r := range roles {
					if _, e := ctx.SpawnNamed(child, r.String()); e != nil {
						err = e
					}
				}
				ready <- err
			}
		})
		if _, err := sys.Root.SpawnNamed(parent, SupervisorName); err != nil {
			t.Fatal(err)
		}
		if err := <-ready; err != nil {
			t.Fatal(err)
		}
	}
	book, err := NewBook(1, net.Addrs(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range roles {
		sys1.Root.Send(book.PID(2, r), "hi")
		want["r2 rsml/"+r.String()+" hi"] = true
	}
	for range roles {
		select {
		case s := <-got:
			if !want[s] {
				t.Errorf("unexpected delivery %q", s)
			}
			delete(want, s)
		case <-time.After(failsafe):
			t.Fatalf("roles never got their message: %v", want)
		}
	}
}

func TestRequestResponseAcrossSystems(t *testing.T) {
	net := NewNetwork(1)
	t.Cleanup(net.Close)
	sys1, sys2 := newSystem(t), newSystem(t)
	net.Attach(1, sys1)
	net.Attach(2, sys2)
	echo := actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(string); ok {
			ctx.Respond("echo " + m)
		}
	})
	if _, err := sys2.Root.SpawnNamed(echo, ActorName(msg.RoleLearner)); err != nil {
		t.Fatal(err)
	}
	book, err := NewBook(1, net.Addrs(1, 2))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sys1.Root.RequestFuture(book.PID(2, msg.RoleLearner), "x", failsafe).Result()
	if err != nil || res != "echo x" {
		t.Fatalf("reply %v, %v", res, err)
	}
	if s := net.Stats(); s.Sent != 2 || s.Delivered != 2 {
		t.Errorf("stats %+v: the reply did not come back over a link", s)
	}
}

func TestPartition(t *testing.T) {
	c := newCluster(t, 1, 3)
	c.net.Partition([]msg.NodeID{1}, []msg.NodeID{2, 3})
	c.expectDropped(1, 2, 1)
	c.expectDropped(2, 1, 2)
	c.expectDropped(3, 1, 3)
	c.marker(2, 3, 4)
	c.marker(3, 2, 5)
	c.net.Heal()
	c.marker(1, 2, 6)
	c.marker(2, 1, 7)
	c.marker(3, 1, 8)
	c.checkBalanced()
}

func TestPartitionUnnamedTalksToAll(t *testing.T) {
	c := newCluster(t, 1, 3)
	c.net.Partition([]msg.NodeID{1}, []msg.NodeID{2})
	c.expectDropped(1, 2, 1)
	c.marker(3, 1, 2)
	c.marker(1, 3, 3)
	c.marker(3, 2, 4)
	c.net.Partition() // removes the partition
	c.marker(1, 2, 5)
}

func TestBlockIsOneWay(t *testing.T) {
	c := newCluster(t, 1, 2)
	c.net.Block(1, 2)
	c.expectDropped(1, 2, 1)
	c.marker(2, 1, 2)
	c.net.Heal()
	c.marker(1, 2, 3)
}

func TestIsolate(t *testing.T) {
	c := newCluster(t, 1, 3)
	c.net.Isolate(1)
	c.expectDropped(1, 2, 1)
	c.expectDropped(1, 3, 2)
	c.expectDropped(2, 1, 3)
	c.expectDropped(3, 1, 4)
	c.marker(2, 3, 5)
	c.net.Heal()
	c.marker(1, 2, 6)
	c.marker(3, 1, 7)
}

func TestDetachAndRestart(t *testing.T) {
	c := newCluster(t, 1, 2)
	old := c.r[2]
	c.net.Detach(2)
	c.expectDropped(1, 2, 1)
	c.expectDropped(2, 1, 2) // the detached system can still send; nothing leaves it

	// Restart replica 2 with a new system: the old one stays cut off.
	c.start(2)
	c.marker(1, 2, 3)
	c.marker(2, 1, 4)
	before := c.net.Stats().Dropped
	old.sys.Root.Send(old.book.PID(1, msg.RoleAcceptor), &note{from: 2, seq: 5})
	if got := c.net.Stats().Dropped; got != before+1 {
		t.Fatalf("old system's send not dropped")
	}
	c.marker(2, 1, 6)

	// Detach and re-attach the same system.
	c.net.Detach(1)
	c.expectDropped(2, 1, 7)
	c.net.Attach(1, c.r[1].sys)
	c.marker(2, 1, 8)
	c.marker(1, 2, 9)
	c.checkBalanced()
}

func TestAttachSameSystemTwoIDsPanics(t *testing.T) {
	net := NewNetwork(1)
	t.Cleanup(net.Close)
	sys := newSystem(t)
	net.Attach(1, sys)
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	net.Attach(2, sys)
}

func TestDeadLetter(t *testing.T) {
	c := newCluster(t, 1, 2)
	r := c.r[1]
	r.sys.Root.Send(r.book.PID(2, msg.RoleExecutor), &note{from: 1})                // no executor on 2
	r.sys.Root.Send(r.book.WaitersPID(2), WaiterEnvelope("nobody", &note{from: 1})) // no waiters process on 2
	if s := c.net.Stats(); s.DeadLetters != 2 || s.Delivered != 0 {
		t.Errorf("stats %+v, want 2 dead letters", s)
	}
}

func TestDropAll(t *testing.T) {
	c := newCluster(t, 1, 2)
	c.net.SetDrop(1)
	for i := range 100 {
		c.send(1, 2, i)
	}
	if s := c.net.Stats(); s.Dropped != 100 || s.Delivered != 0 {
		t.Fatalf("stats %+v, want 100 dropped", s)
	}
	c.net.SetDrop(0)
	for i := range 100 {
		c.send(1, 2, 100+i)
	}
	for i := range 100 {
		c.expect(2, 1, 100+i)
	}
	if s := c.net.Stats(); s.Dropped != 100 || s.Delivered != 100 {
		t.Fatalf("stats %+v, want 100 dropped and 100 delivered", s)
	}
}

// TestDropIsReproducible sends the same traffic over two networks with the
// same seed: the same messages must be lost.
func TestDropIsReproducible(t *testing.T) {
	const seed = 42
	var runs [2][]int
	for k := range runs {
		c := newCluster(t, seed, 2)
		c.net.SetDrop(0.5)
		for i := range 200 {
			c.send(1, 2, i)
		}
		c.net.SetDrop(0)
		c.send(1, 2, -1)
		for m := range c.r[2].inbox {
			if m.seq == -1 {
				break
			}
			runs[k] = append(runs[k], m.seq)
		}
		c.checkBalanced()
	}
	if len(runs[0]) == 0 || len(runs[0]) == 200 {
		t.Fatalf("seed %d: drop 0.5 delivered %d of 200", seed, len(runs[0]))
	}
	if fmt.Sprint(runs[0]) != fmt.Sprint(runs[1]) {
		t.Fatalf("seed %d: runs differ:\n%v\n%v", seed, runs[0], runs[1])
	}
}

func TestDuplicate(t *testing.T) {
	for _, delayed := range []bool{false, true} {
		t.Run(fmt.Sprintf("delayed=%v", delayed), func(t *testing.T) {
			c := newCluster(t, 1, 2)
			c.net.SetDuplicate(1)
			if delayed {
				c.net.SetDelay(0, time.Millisecond)
			}
			for i := range 50 {
				c.send(1, 2, i)
			}
			for i := range 50 {
				c.expect(2, 1, i)
				c.expect(2, 1, i)
			}
			c.net.SetDuplicate(0)
			c.marker(1, 2, 50)
			if s := c.net.Stats(); s.Duplicated != 50 || s.Delivered != 101 {
				t.Errorf("stats %+v, want 50 duplicated, 101 delivered", s)
			}
		})
	}
}

// TestDelayKeepsFIFO sends 1000 notes on each of two links into one replica
// with random delays: each link's notes must arrive in order.
func TestDelayKeepsFIFO(t *testing.T) {
	const seed, n = 7, 1000
	c := newCluster(t, seed, 3)
	c.net.SetDelay(0, 2*time.Millisecond)
	var wg sync.WaitGroup
	for _, from := range []msg.NodeID{1, 3} {
		wg.Go(func() {
			for i := range n {
				c.send(from, 2, i)
			}
		})
	}
	next := map[msg.NodeID]int{1: 0, 3: 0}
	for range 2 * n {
		select {
		case m := <-c.r[2].inbox:
			if m.seq != next[m.from] {
				t.Fatalf("seed %d: from %d got %d, want %d", seed, m.from, m.seq, next[m.from])
			}
			next[m.from]++
		case <-time.After(failsafe):
			t.Fatalf("seed %d: stuck at %v", seed, next)
		}
	}
	wg.Wait()
	// Turning delay off while nothing is queued goes back to direct delivery;
	// turning it off with messages queued must not let new ones overtake them.
	c.net.SetDelay(time.Hour, time.Hour)
	c.send(1, 2, 0)
	c.net.SetDelay(0, 0)
	c.send(1, 2, 1)
	c.marker(3, 2, 99) // link 3 -> 2 is empty: direct
	select {
	case m := <-c.r[2].inbox:
		t.Fatalf("note %d from %d overtook or skipped the delay", m.seq, m.from)
	default:
	}
	c.net.Close() // drops the two queued notes
	c.checkBalanced()
	if s := c.net.Stats(); s.Dropped != 2 {
		t.Errorf("stats %+v, want the 2 queued notes dropped by Close", s)
	}
}

// Reordering takes messages out of a link's order: every message arrives,
// and some overtake others; a partition still cuts a late one in flight.
func TestReorder(t *testing.T) {
	const seed, n = 11, 500
	c := newCluster(t, seed, 2)
	c.net.SetReorder(0.3, 2*time.Millisecond)
	for i := range n {
		c.send(1, 2, i)
	}
	got := map[int]bool{}
	overtaken := 0
	last := -1
	for range n {
		select {
		case m := <-c.r[2].inbox:
			if got[m.seq] {
				t.Fatalf("seed %d: %d arrived twice", seed, m.seq)
			}
			got[m.seq] = true
			if m.seq < last {
				overtaken++
			}
			last = max(last, m.seq)
		case <-time.After(failsafe):
			t.Fatalf("seed %d: %d of %d arrived", seed, len(got), n)
		}
	}
	if overtaken == 0 {
		t.Fatalf("seed %d: %d messages, none overtaken", seed, n)
	}
	// Late and cut off before it is due: dropped, and counted.
	c.net.SetReorder(1, time.Hour)
	c.send(1, 2, 0)
	c.net.Isolate(2)
	c.net.Close()
	c.checkBalanced()
}

// TestDelayedInFlightDropped checks that a partition cuts a message that is
// already in flight.
func TestDelayedInFlightDropped(t *testing.T) {
	c := newCluster(t, 1, 2)
	c.net.SetDelay(time.Hour, time.Hour)
	c.send(1, 2, 1)
	c.net.Block(1, 2)
	c.net.SetDelay(0, 0)
	c.net.Heal()
	c.send(1, 2, 2) // queued behind 1 (FIFO)
	// Note 1 is due in an hour; nothing to wait for here but Close.
	select {
	case m := <-c.r[2].inbox:
		t.Fatalf("got note %d", m.seq)
	default:
	}
	c.net.Close()
	if s := c.net.Stats(); s.Dropped != 2 || s.Delivered != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestCloseStopsEverything(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	c := newCluster(t, 1, 3)
	c.net.SetDelay(time.Hour, 2*time.Hour)
	for _, from := range c.ids {
		for _, to := range c.ids {
			if from != to {
				c.send(from, to, 1)
			}
		}
	}
	done := make(chan struct{})
	go func() { c.net.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(failsafe):
		t.Fatal("Close did not return")
	}
	goleak.VerifyNone(t, ignore)
	c.send(1, 2, 2) // after Close: dropped
	if s := c.net.Stats(); s.Sent != 7 || s.Dropped != 7 || s.Delivered != 0 {
		t.Errorf("stats %+v, want all 7 dropped", s)
	}
	c.net.Close() // idempotent
}

// TestFaultsUnderTraffic changes every fault while three replicas send to each
// other from several goroutines (run it with -race), then checks the counters.
func TestFaultsUnderTraffic(t *testing.T) {
	const seed = 3
	net := NewNetwork(seed)
	t.Cleanup(net.Close)
	ids := []msg.NodeID{1, 2, 3}
	var got atomic.Uint64
	type rep struct {
		sys  *actor.ActorSystem
		book *Book
	}
	start := func(id msg.NodeID) rep {
		sys := newSystem(t)
		net.Attach(id, sys)
		book, err := NewBook(id, net.Addrs(ids...))
		if err != nil {
			t.Fatal(err)
		}
		props := actor.PropsFromFunc(func(ctx actor.Context) {
			switch ctx.Message().(type) {
			case *note:
				got.Add(1)
			case string: // flush: everything posted before it has been counted
				ctx.Respond("flushed")
			}
		})
		if _, err := sys.Root.SpawnNamed(props, ActorName(msg.RoleAcceptor)); err != nil {
			t.Fatal(err)
		}
		return rep{sys, book}
	}
	var reps [4]rep
	for _, id := range ids {
		reps[id] = start(id)
	}
	live := []rep{reps[1], reps[2], start(3)} // restart 3: the old system keeps sending, all dropped
	steps := []func(){
		func() { net.Partition([]msg.NodeID{1}, []msg.NodeID{2, 3}) },
		func() { net.SetDelay(0, 100*time.Microsecond) },
		func() { net.Heal() },
		func() { net.SetDuplicate(0.2) },
		func() { net.Block(2, 3) },
		func() { net.SetDrop(0.3) },
		func() { net.Heal() },
		func() { net.Isolate(2) },
		func() { net.SetDrop(0) },
		func() { net.Heal() },
		func() { net.SetDelay(0, 0) },
		func() { net.Detach(1) },
		func() { net.SetDuplicate(0) },
		func() { net.Attach(1, reps[1].sys) },
	}
	stop := make(chan struct{})
	var chaos sync.WaitGroup
	chaos.Go(func() {
		for i := 0; ; i++ {
			steps[i%len(steps)]()
			// Let some traffic see this state: wait on the counter, not a clock.
			for target := net.Stats().Sent + 100; net.Stats().Sent < target; {
				select {
				case <-stop:
					return
				default:
					runtime.Gosched()
				}
			}
		}
	})
	const perSender = 3000
	var senders sync.WaitGroup
	for _, from := range ids {
		r := reps[from] // the old system for 3
		senders.Go(func() {
			others := slices.DeleteFunc(slices.Clone(ids), func(id msg.NodeID) bool { return id == from })
			for i := range perSender {
				to := others[i%len(others)]
				r.sys.Root.Send(r.book.PID(to, msg.RoleAcceptor), &note{from: from, seq: i})
				if i%16 == 0 {
					runtime.Gosched() // give the chaos goroutine a turn on small machines
				}
			}
		})
	}
	senders.Wait()
	close(stop)
	chaos.Wait()
	net.Close()
	for _, r := range live { // a local request, behind every note already posted
		if _, err := r.sys.Root.RequestFuture(r.book.PID(r.book.Self(), msg.RoleAcceptor), "flush", failsafe).Result(); err != nil {
			t.Fatal(err)
		}
	}
	s := net.Stats()
	if s.Sent+s.Duplicated != s.Delivered+s.Dropped+s.DeadLetters {
		t.Errorf("seed %d: stats do not balance: %+v", seed, s)
	}
	t.Logf("seed %d: %+v", seed, s)
	if s.Sent != 3*perSender || s.Dropped < perSender || got.Load() != s.Delivered {
		t.Errorf("seed %d: stats %+v, %d received: want %d sent, at least the old 3's %d dropped, every delivery received",
			seed, s, got.Load(), 3*perSender, perSender)
	}
}

// BenchmarkLinkSend measures one send over a link without faults, from the
// sender's Root to the receiver's mailbox.
func BenchmarkLinkSend(b *testing.B) {
	net := NewNetwork(1)
	b.Cleanup(net.Close)
	sys1, sys2 := newSystem(b), newSystem(b)
	net.Attach(1, sys1)
	net.Attach(2, sys2)
	var got atomic.Int64
	if _, err := sys2.Root.SpawnNamed(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*note); ok {
			got.Add(1)
		}
	}), ActorName(msg.RoleAcceptor)); err != nil {
		b.Fatal(err)
	}
	book, err := NewBook(1, net.Addrs(1, 2))
	if err != nil {
		b.Fatal(err)
	}
	m := &note{from: 1}
	b.ReportAllocs()
	for b.Loop() {
		sys1.Root.Send(book.PID(2, msg.RoleAcceptor), m)
	}
}
