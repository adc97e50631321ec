package executor

import (
	"errors"
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// Actor drives a Core from a mailbox. Every start restores the state machine
// from the latest snapshot and asks the learner to replay what follows it.
type Actor struct {
	cfg     Config
	sm      StateMachine
	snaps   storage.SnapshotStore
	book    *remote.Book
	logger  *slog.Logger
	observe func(applied, rev uint64)
	core    *Core
	failed  bool
}

// NewActor returns the actor. observe, if not nil, is called with the applied
// point and rev whenever they advance.
func NewActor(cfg Config, sm StateMachine, snaps storage.SnapshotStore, book *remote.Book, logger *slog.Logger, observe func(applied, rev uint64)) *Actor {
	return &Actor{cfg: cfg, sm: sm, snaps: snaps, book: book, logger: logger, observe: observe}
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		core, err := New(a.cfg, a.sm, a.snaps)
		if err != nil {
			a.logger.Error("executor cannot start", "err", err)
			a.failed = true
			return
		}
		a.core = core
		a.book.Send(ctx, core.Start())
		a.publish()
	case *msg.Tick:
		if a.core != nil {
			a.core.Tick()
		}
	case *msg.Crash:
		panic("executor: injected crash")
	case actor.AutoReceiveMessage, actor.SystemMessage:
	default:
		if a.core == nil || a.failed {
			return
		}
		before := a.core.Applied()
		out, err := a.core.Step(m)
		a.book.Send(ctx, out)
		if errors.Is(err, ErrRestore) {
			// Half restored: only a restart from storage is safe.
			panic(err)
		}
		if err != nil {
			a.logger.Error("executor cannot save a snapshot", "err", err)
		}
		if a.core.Applied() != before {
			a.publish()
		}
	}
}

func (a *Actor) publish() {
	if a.observe != nil {
		a.observe(a.core.Applied(), a.core.Rev())
	}
}
