package acceptor

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// flush is the message the acceptor sends itself when its first buffered
// answer arrives; it lands behind everything already queued, so one durable
// write covers every accept that arrived meanwhile.
type flush struct{}

// Actor drives a Core from a mailbox. It reloads the core from storage every
// time it starts, so a restart after a panic keeps every promise and
// acceptance it answered.
type Actor struct {
	cfg      Config
	log      storage.AcceptorLog
	book     *remote.Book
	logger   *slog.Logger
	core     *Core
	flushing bool
	failed   bool
}

// NewActor returns the actor; spawn it with actor.PropsFromProducer.
func NewActor(cfg Config, log storage.AcceptorLog, book *remote.Book, logger *slog.Logger) *Actor {
	return &Actor{cfg: cfg, log: log, book: book, logger: logger}
}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		st, err := a.log.Load()
		if err != nil {
			// Without its log an acceptor could break a promise: refuse to act.
			a.logger.Error("acceptor cannot load its log; it will not answer", "err", err)
			a.failed = true
			return
		}
		a.core = New(a.cfg, st)
	case *msg.Tick:
		if a.core != nil {
			a.core.Tick()
		}
	case *msg.Crash:
		panic("acceptor: injected crash")
	case flush:
		a.flushing = false
		a.flush(ctx)
	default:
		if a.core == nil || a.failed {
			return
		}
		a.book.Send(ctx, a.core.Step(m))
		if a.core.HasReady() && !a.flushing {
			a.flushing = true
			ctx.Send(ctx.Self(), flush{})
		}
	}
}

func (a *Actor) flush(ctx actor.Context) {
	if a.core == nil || a.failed || !a.core.HasReady() {
		return
	}
	rec, persist, out := a.core.Ready()
	if persist {
		if err := a.log.Append(rec); err != nil {
			// Crash-stop: never answer what is not durable. Our in-memory
			// state is now ahead of the disk, so stop answering at all.
			a.logger.Error("acceptor write failed; acceptor stops answering", "err", err)
			a.failed = true
			return
		}
	}
	a.book.Send(ctx, out)
}
