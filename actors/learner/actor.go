package learner

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// Actor drives a Core from a mailbox; on every start it resumes from the
// chosen log in storage.
type Actor struct {
	cfg     Config
	log     storage.ChosenLog
	snaps   storage.SnapshotStore
	book    *remote.Book
	logger  *slog.Logger
	observe func(delivered uint64)
	core    *Core
	failed  bool

	// OnInstall, if set, is called after a peer's snapshot was installed.
	OnInstall func(slot uint64)
}

// NewActor returns the actor. observe, if not nil, is called with the
// delivered point whenever it advances.
func NewActor(cfg Config, log storage.ChosenLog, snaps storage.SnapshotStore, book *remote.Book, logger *slog.Logger, observe func(uint64)) *Actor {
	return &Actor{cfg: cfg, log: log, snaps: snaps, book: book, logger: logger, observe: observe}
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		core, err := New(a.cfg, a.log, a.snaps)
		if err != nil {
			a.logger.Error("learner cannot start", "err", err)
			a.failed = true
			return
		}
		a.core = core
		a.book.Send(ctx, core.Start())
		a.publish()
	case *msg.Tick:
		if a.core != nil {
			a.book.Send(ctx, a.core.Tick())
		}
	case *msg.Crash:
		panic("learner: injected crash")
	case actor.AutoReceiveMessage, actor.SystemMessage:
	default:
		if a.core == nil || a.failed {
			return
		}
		before, installs := a.core.Delivered(), a.core.Installs()
		out, err := a.core.Step(m)
		a.book.Send(ctx, out)
		if err != nil {
			a.logger.Error("learner cannot store chosen values; it stops delivering", "err", err)
			a.failed = true
		}
		if a.core.Installs() != installs && a.OnInstall != nil {
			a.OnInstall(a.core.Delivered())
		}
		if a.core.Delivered() != before {
			a.publish()
		}
	}
}

func (a *Actor) publish() {
	if a.observe != nil {
		a.observe(a.core.Delivered())
	}
}
