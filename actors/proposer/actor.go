package proposer

import (
	"log/slog"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
	"github.com/rsml-go/rsml/storage"
)

// Actor drives a Core from a mailbox. The only thing a proposer keeps durable
// is the highest ballot it used; a restarted proposer is a follower that
// learns the leader from heartbeats.
type Actor struct {
	cfg     Config
	ballots storage.BallotLog
	book    *remote.Book
	logger  *slog.Logger
	observe func(Status)
	core    *Core
	saved   msg.Ballot
	failed  bool
	last    Status
}

// NewActor returns the actor. observe, if not nil, is called with the
// proposer's status whenever it changes.
func NewActor(cfg Config, ballots storage.BallotLog, book *remote.Book, logger *slog.Logger, observe func(Status)) *Actor {
	return &Actor{cfg: cfg, ballots: ballots, book: book, logger: logger, observe: observe}
}

// Campaign asks the proposer to start an election at once.
type Campaign struct{}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	var out []msg.Out
	if a.failed {
		return
	}
	switch m := ctx.Message().(type) {
	case *actor.Started:
		used, err := a.ballots.LoadBallot()
		if err != nil {
			a.logger.Error("proposer cannot load its last ballot; it will not campaign", "err", err)
			a.failed = true
			return
		}
		a.core, a.saved = New(a.cfg, used), used
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
	if b := a.core.Ballot(); a.saved.Less(b) {
		// Persist before send: no message with this ballot leaves before a
		// restart is sure to pick a higher one.
		if err := a.ballots.SaveBallot(b); err != nil {
			a.logger.Error("proposer cannot save its ballot; it stops", "err", err)
			a.failed = true
			return
		}
		a.saved = b
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
