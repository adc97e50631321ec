package proposer

import (
	"log/slog"
	"time"

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
	chosen  storage.ChosenLog
	book    *remote.Book
	logger  *slog.Logger
	hooks   Hooks
	core    *Core
	saved   msg.Ballot
	failed  bool
	last    Status
	sent    map[uint64]time.Time // when this leader first proposed each slot in flight
	intake  Intake
	taken   []*msg.ClientRequest // reused buffer for the intake's requests

	commitAvg time.Duration // moving average of the commit latency: how long a hold may last
	holdTimer *time.Timer   // ends a hold of the core (HoldBatches)
	holdGen   uint64        // numbers holds, so that a late timer ends no later one
	holdArmed bool
}

// releaseHold is the hold timer's message; gen names the hold it ends.
type releaseHold struct{ gen uint64 }

// holdFor is how long a hold may last: about one commit latency, which is
// what a command answered just too late for the slot would otherwise wait
// for it to be chosen. (Half and twice that did no better at 64 clients,
// over TCP and in memory.) The bounds keep a stray measurement from making
// it useless or long.
func (a *Actor) holdFor() time.Duration {
	return min(max(a.commitAvg, 20*time.Microsecond), 2*time.Millisecond)
}

// armHold starts or stops the hold timer to match the core.
func (a *Actor) armHold(ctx actor.Context) {
	holding := a.core != nil && a.core.Holding()
	if holding == a.holdArmed {
		return
	}
	a.holdArmed = holding
	if !holding {
		if a.holdTimer != nil {
			a.holdTimer.Stop()
		}
		return
	}
	a.holdGen++
	gen, self, root := a.holdGen, ctx.Self(), ctx.ActorSystem().Root
	// A timer per hold, carrying its hold's number: one timer re-armed
	// would name the current hold even when it fired for an earlier one.
	a.holdTimer = time.AfterFunc(a.holdFor(), func() { root.Send(self, releaseHold{gen: gen}) })
}

// Intake holds this replica's own client requests for the proposer to take,
// so that a client does not wake the proposer for each one: a leader with its
// window in use would only queue them. The proposer takes whatever is there
// at every message it handles, and rings (a Doorbell in its mailbox) only
// once enough wait for it to act on.
type Intake interface {
	// Take appends the waiting requests to dst, in arrival order, and
	// empties the intake.
	Take(dst []*msg.ClientRequest) []*msg.ClientRequest
	// Want asks for a Doorbell once n requests, or bytes of them (0: no
	// byte bound), wait; it reports whether that many already do, in which
	// case no Doorbell comes and the caller takes them itself.
	Want(n, bytes int) bool
}

// Doorbell tells the proposer that its Intake holds requests it asked for.
type Doorbell struct{}

// WithIntake makes the actor take client requests from in as well as from its
// mailbox.
func (a *Actor) WithIntake(in Intake) *Actor {
	a.intake = in
	return a
}

// Hooks let the replica observe the proposer; any of them may be nil. They
// run on the actor's goroutine and must not block.
type Hooks struct {
	// Status is called with the proposer's status whenever it changes.
	Status func(Status)
	// Batch is called with the number of commands of each new slot.
	Batch func(cmds int)
	// Commit is called with the time from proposing a slot to knowing it chosen.
	Commit func(time.Duration)
}

// NewActor returns the actor.
// chosen is the learner's log, read once at start for the commit point.
func NewActor(cfg Config, ballots storage.BallotLog, chosen storage.ChosenLog, book *remote.Book, logger *slog.Logger, hooks Hooks) *Actor {
	return &Actor{cfg: cfg, ballots: ballots, chosen: chosen, book: book, logger: logger, hooks: hooks, sent: map[uint64]time.Time{}}
}

// Campaign asks the proposer to start an election at once.
type Campaign struct{}

// Receive implements actor.Actor.
func (a *Actor) Receive(ctx actor.Context) {
	var out []msg.Out
	if a.failed {
		return
	}
	switch ctx.Message().(type) {
	case *actor.Started: // a SystemMessage too; handled below
	case *msg.Crash:
		panic("proposer: injected crash")
	case *actor.Stopping, *actor.Restarting:
		if a.holdTimer != nil {
			a.holdTimer.Stop()
		}
		return
	case actor.AutoReceiveMessage, actor.SystemMessage:
		return
	}
	// Requests that reached the intake before this message are handled
	// before it, as if they had come through the mailbox: a Committed that
	// frees the window then fills the slot with all of them.
	out = a.takeRequests(out, false)
	switch m := ctx.Message().(type) {
	case *actor.Started:
		used, err := a.ballots.LoadBallot()
		if err != nil {
			a.logger.Error("proposer cannot load its last ballot; it will not campaign", "err", err)
			a.failed = true
			return
		}
		a.core, a.saved = New(a.cfg, used, a.chosen.Last()), used
	case *msg.Tick:
		out = append(out, a.core.Tick()...)
	case *Campaign:
		out = append(out, a.core.Campaign()...)
	case Doorbell:
	case releaseHold:
		if m.gen == a.holdGen && a.core.Holding() {
			out = append(out, a.core.Release()...)
		}
		a.holdArmed = a.core.Holding()
	case *msg.Committed:
		out = append(out, a.core.Step(m)...)
		a.committed(m.Commit)
	default:
		out = append(out, a.core.Step(m)...)
	}
	out = a.takeRequests(out, true)
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
	a.track(out)
	a.armHold(ctx)
	a.publish()
}

// takeRequests steps the requests waiting in the intake; with rearm it then
// tells the intake when to ring next.
func (a *Actor) takeRequests(out []msg.Out, rearm bool) []msg.Out {
	if a.intake == nil || a.core == nil {
		return out
	}
	for {
		a.taken = a.intake.Take(a.taken[:0])
		if len(a.taken) > 0 {
			out = append(out, a.core.StepRequests(a.taken)...)
			clear(a.taken)
		}
		if !rearm || !a.intake.Want(a.core.RequestsWanted()) {
			return out
		}
	}
}

// track notes when each slot was first proposed, for the commit latency.
func (a *Actor) track(out []msg.Out) {
	if a.hooks.Commit == nil && a.hooks.Batch == nil && !a.cfg.HoldBatches {
		return
	}
	var last *msg.Accept
	for _, o := range out {
		acc, ok := o.Msg.(*msg.Accept)
		if !ok || acc == last {
			continue // one Accept goes to every acceptor
		}
		last = acc
		for _, p := range acc.Proposals {
			if _, seen := a.sent[p.Slot]; !seen {
				a.sent[p.Slot] = time.Now()
				if a.hooks.Batch != nil && !p.Value.IsNoop() {
					a.hooks.Batch(len(p.Value.Cmds))
				}
			}
		}
	}
}

func (a *Actor) committed(commit uint64) {
	if len(a.sent) == 0 {
		return
	}
	now := time.Now()
	for s, t := range a.sent {
		if s <= commit {
			if a.hooks.Commit != nil {
				a.hooks.Commit(now.Sub(t))
			}
			if d := now.Sub(t); a.commitAvg == 0 {
				a.commitAvg = d
			} else {
				a.commitAvg += (d - a.commitAvg) / 8
			}
			delete(a.sent, s)
		}
	}
	if !a.core.IsLeader() {
		clear(a.sent)
	}
}

func (a *Actor) publish() {
	if a.hooks.Status == nil || a.core == nil {
		return
	}
	st := a.core.Status()
	if st.Role != a.last.Role || st.Leader != a.last.Leader || st.Ballot != a.last.Ballot || st.Commit != a.last.Commit {
		if st.Role != a.last.Role || st.Leader != a.last.Leader {
			a.logger.Info("leadership", "role", st.Role, "leader", st.Leader, "ballot", st.Ballot.String())
		}
		a.last = st
		a.hooks.Status(st)
	}
}
