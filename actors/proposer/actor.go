package proposer

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// Actor drives a Core from a mailbox. The proposer keeps nothing durable: a
// restarted proposer is a follower that learns the leader from heartbeats.
type Actor struct {
	cfg     Config
	book    *remote.Book
	logger  *slog.Logger
	observe func(Status)
	core    *Core
	last    Status
}

// NewActor returns the actor. observe, if not nil, is called with the
// proposer's status whenever it changes.
func NewActor(cfg Config, book *remote.Book, logger *slog.Logger, observe func(Status)) *Actor {
	return &Actor{cfg: cfg, book: book, logger: logger, observe: observe}
}

// Campaign asks the proposer to start an election at once.
type Campaign struct{}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	var out []msg.Out
	switch m := ctx.Message().(type) {
	case *actor.Started:
		a.core = New(a.cfg)
	case *msg.Tick:
		out = a.core.Tick()
	case *Campaign:
		out = a.core.Campaign()
	case *msg.Crash:
		panic("proposer: injected crash")
	case actor.AutoReceiveMessage, actor.SystemMessage:
		return
	default:
		out = a.core.Step(m)
	}
	a.book.Send(ctx, out)
	a.publish()
}

func (a *Actor) publish() {
	if a.observe == nil || a.core == nil {
		return
	}
	st := a.core.Status()
	if st.Role != a.last.Role || st.Leader != a.last.Leader || st.Ballot != a.last.Ballot || st.Commit != a.last.Commit {
		if st.Role != a.last.Role || st.Leader != a.last.Leader {
			a.logger.Info("leadership", "role", st.Role, "leader", st.Leader, "ballot", st.Ballot.String())
		}
		a.last = st
		a.observe(st)
	}
}
