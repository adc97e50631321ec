package acceptor

import (
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"

	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction(storage.NutsLeftoverGoroutine))
}

// capture is a process that stands in for the proposer and the learners.
type capture struct{ ch chan any }

func (c *capture) SendUserMessage(_ *actor.PID, m any) { c.ch <- m }
func (c *capture) SendSystemMessage(*actor.PID, any)   {}
func (c *capture) Stop(*actor.PID)                     {}

func next[T any](t *testing.T, ch chan any) T {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-ch:
			if v, ok := m.(T); ok {
				return v
			}
		case <-timeout:
			var zero T
			t.Fatalf("no %T arrived", zero)
			return zero
		}
	}
}

// TestPanicAfterPromiseKeepsThePromise drives the real acceptor actor: it
// promises a ballot, panics, is restarted by its supervisor from storage, and
// must still refuse the lower ballots it promised to ignore.
func TestPanicAfterPromiseKeepsThePromise(t *testing.T) {
	disk, err := storage.OpenDir(filepath.Join(t.TempDir(), "d"), "test", 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer disk.Close()
	for name, st := range map[string]role.Storage{"memory": storage.NewMemory(), "nutsdb": disk} {
		t.Run(name, func(t *testing.T) {
			quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
			sys := actor.NewActorSystem(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet }),
				actor.WithDeadLetterThrottleInterval(time.Millisecond))
			defer sys.Shutdown()
			sys.ProcessRegistry.Address = "a1"
			book, err := remote.NewBook(1, map[msg.NodeID]string{1: "a1"})
			if err != nil {
				t.Fatal(err)
			}
			prop := &capture{ch: make(chan any, 64)}
			learn := &capture{ch: make(chan any, 64)}
			sys.ProcessRegistry.Add(prop, remote.ActorName(msg.RoleProposer))
			sys.ProcessRegistry.Add(learn, remote.ActorName(msg.RoleLearner))
			var saves role.Saves
			// Under its well-known name, as node spawns it: the core's
			// flush reaches it through the book.
			pid, err := sys.Root.SpawnNamed(actor.PropsFromProducer(func() actor.Actor {
				build := func() (role.Core, error) {
					return Load(Config{ID: 1, LeaseTicks: 1}, st.Acceptor())
				}
				return role.NewActor(build, st, book, quiet, &saves)
			}), remote.ActorName(msg.RoleAcceptor))
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = sys.Root.StopFuture(pid).Wait() }()

			high := msg.Ballot{Round: 5, ID: 1}
			v := &msg.Value{Cmds: []msg.Command{{Data: []byte("x")}}}
			sys.Root.Send(pid, &msg.Prepare{From: 1, Ballot: high, FromSlot: 1})
			if p := next[*msg.Promise](t, prop.ch); p.Ballot != high {
				t.Fatalf("promise for %v, want %v", p.Ballot, high)
			}
			sys.Root.Send(pid, &msg.Accept{From: 1, Ballot: high, Proposals: []msg.Proposal{{Slot: 1, Value: v}}})
			if a := next[*msg.Accepted](t, learn.ch); a.Ballot != high || a.Slots[0] != 1 {
				t.Fatalf("accepted %+v", a)
			}

			sys.Root.Send(pid, &msg.Crash{}) // the supervisor restarts it from storage

			sys.Root.Send(pid, &msg.Prepare{From: 1, Ballot: msg.Ballot{Round: 3, ID: 1}, FromSlot: 1})
			if n := next[*msg.Nack](t, prop.ch); n.Promised != high {
				t.Fatalf("after the restart the acceptor reports promise %v, want %v", n.Promised, high)
			}
			sys.Root.Send(pid, &msg.Accept{From: 1, Ballot: msg.Ballot{Round: 4, ID: 1}, Proposals: []msg.Proposal{{Slot: 1, Value: &msg.Value{}}}})
			if n := next[*msg.Nack](t, prop.ch); n.Promised != high {
				t.Fatalf("a lower accept after the restart: nack with %v, want %v", n.Promised, high)
			}
			// And it still reports what it accepted.
			higher := msg.Ballot{Round: 6, ID: 1}
			sys.Root.Send(pid, &msg.Prepare{From: 1, Ballot: higher, FromSlot: 1})
			p := next[*msg.Promise](t, prop.ch)
			if len(p.Entries) != 1 || p.Entries[0].Ballot != high || string(p.Entries[0].Value.Cmds[0].Data) != "x" {
				t.Fatalf("after the restart the promise reports %+v, want slot 1 accepted at %v", p.Entries, high)
			}
		})
	}
}
