package role

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// Actor runs a core as a Proto.Actor actor: every (re)start builds the core
// from storage, and every message and tick goes through the Driver. Spawn it
// with actor.PropsFromProducer; the supervisor restarts it after a panic.
type Actor struct {
	build  func() (Core, error)
	store  Storage
	book   *remote.Book
	logger *slog.Logger
	// Observe, if set, runs after every input the core handled, on the
	// actor's goroutine (status hooks); it must not block.
	Observe func(Core)

	driver *Driver
	failed bool
	timers []*armed // armed, not known to have fired
	saves  *Saves
}

// NewActor returns an actor whose core build makes from storage. saves
// counts the snapshot saves in flight, which outlive an incarnation: the
// actor waits for them when it stops.
func NewActor(build func() (Core, error), store Storage, book *remote.Book, logger *slog.Logger, saves *Saves) *Actor {
	return &Actor{build: build, store: store, book: book, logger: logger, saves: saves}
}

// env is the actor's Env for the message being handled.
type env struct {
	a   *Actor
	ctx actor.Context
}

func (e env) Send(out []msg.Out) { e.a.book.Send(e.ctx, out) }

func (e env) Save(job *SnapshotJob) {
	snaps, self, root, logger := e.a.store.Snapshots(), e.ctx.Self(), e.ctx.ActorSystem().Root, e.a.logger
	e.a.saves.add(1)
	go func() {
		defer e.a.saves.add(-1)
		m := SaveSnapshot(snaps, job)
		if m.Err != nil {
			logger.Error("snapshot not saved", "slot", job.Slot, "err", m.Err)
		}
		root.Send(self, m)
	}()
}

func (e env) After(t Timer) {
	self, root, m := e.ctx.Self(), e.ctx.ActorSystem().Root, t.Msg
	a := e.a
	live := a.timers[:0] // forget the timers that fired
	for _, x := range a.timers {
		if !x.fired.Load() {
			live = append(live, x)
		}
	}
	x := &armed{}
	x.t = time.AfterFunc(t.After, func() {
		x.fired.Store(true)
		root.Send(self, m)
	})
	a.timers = append(live, x)
}

// armed is a timer of the actor's, stopped when the actor stops.
type armed struct {
	t     *time.Timer
	fired atomic.Bool
}

func (e env) StopTimers() { e.a.stopTimers() }

func (a *Actor) stopTimers() {
	for _, x := range a.timers {
		x.t.Stop()
	}
	a.timers = nil
}

// Receive implements actor.Actor. A panic is logged with the message that
// caused it and its stack, then goes on to the supervisor, which restarts
// the role from storage (or gives up).
func (a *Actor) Receive(ctx actor.Context) {
	defer func() {
		if p := recover(); p != nil {
			a.logger.Error("role panicked; its supervisor restarts it from storage",
				"message", fmt.Sprintf("%T", ctx.Message()), "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			panic(p)
		}
	}()
	switch m := ctx.Message().(type) {
	case *actor.Started:
		core, err := a.build()
		if err != nil {
			a.logger.Error("cannot start; this role will not answer", "err", err)
			a.failed = true
			return
		}
		a.driver = NewDriver(core, a.store, env{a: a, ctx: ctx})
		a.handle(a.driver.Start())
	case *actor.Stopping, *actor.Restarting:
		a.stopTimers()
		if _, stopping := m.(*actor.Stopping); stopping {
			a.saves.Wait() // a snapshot being saved finishes before the store may close
		}
	case *msg.Crash:
		panic("injected crash")
	case actor.AutoReceiveMessage, actor.SystemMessage:
	case *msg.Tick:
		if a.driver != nil && !a.failed {
			a.driver.env = env{a: a, ctx: ctx}
			a.handle(a.driver.Tick())
		}
	default:
		if a.driver != nil && !a.failed {
			a.driver.env = env{a: a, ctx: ctx}
			a.handle(a.driver.Step(m))
		}
	}
}

func (a *Actor) handle(err error) {
	var fail *FailError
	switch {
	case err == nil:
		if a.Observe != nil {
			a.Observe(a.driver.core)
		}
	case errors.As(err, &fail):
		// The core's state may be damaged: only a restart from storage is
		// safe. The supervisor restarts us.
		panic(err)
	default:
		// Crash-stop: never answer what is not durable. The core is now
		// ahead of the disk, so it stops answering at all.
		a.logger.Error("cannot persist; this role stops answering", "err", err)
		a.failed = true
	}
}

// Saves counts the snapshot saves in flight of a replica's roles. Unlike a
// sync.WaitGroup, a save may start while another role waits for them (one
// role starting while another stops), which a WaitGroup forbids.
type Saves struct {
	mu   sync.Mutex
	n    int
	zero *sync.Cond
}

func (s *Saves) add(d int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n += d
	if s.n == 0 && s.zero != nil {
		s.zero.Broadcast()
	}
}

// Wait returns once no save is in flight.
func (s *Saves) Wait() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.zero == nil {
		s.zero = sync.NewCond(&s.mu)
	}
	for s.n > 0 {
		s.zero.Wait()
	}
}
