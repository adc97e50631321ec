package proposer

import (
	"time"

	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
)

// Runner is a proposer core with what drives it besides its messages: the
// Intake of this replica's client requests, the timer that ends a hold, and
// the commit latency that sizes it. It is a role.Core itself, so the actor
// and the simulator drive it alike; only the clock differs.
type Runner struct {
	core   *Core
	intake *Intake // nil: requests come through the mailbox only
	now    func() time.Duration
	hooks  Hooks
	taken  []*msg.ClientRequest // reused buffer for the intake's requests
	last   Status

	sent      map[uint64]time.Duration // when this leader first proposed each slot in flight
	commitAvg time.Duration            // moving average of the commit latency: how long a hold may last
	holdGen   uint64                   // numbers holds, so that a late timer ends no later one
	holdArmed bool
}

// Hooks let the replica observe the proposer; any of them may be nil. They
// run on the role's goroutine and must not block.
type Hooks struct {
	// Status is called with the proposer's status whenever it changes.
	Status func(Status)
	// Batch is called with the number of commands of each new slot.
	Batch func(cmds int)
	// Commit is called with the time from proposing a slot to knowing it chosen.
	Commit func(time.Duration)
}

// releaseHold is the hold timer's message; gen names the hold it ends.
type releaseHold struct{ gen uint64 }

// NewRunner returns the runner of core. now is the clock that times commits
// and holds: monotonic time for the actor, simulated time for the simulator
// (nil: monotonic time from now on).
func NewRunner(core *Core, intake *Intake, now func() time.Duration, hooks Hooks) *Runner {
	if now == nil {
		start := time.Now()
		now = func() time.Duration { return time.Since(start) }
	}
	return &Runner{core: core, intake: intake, now: now, hooks: hooks, sent: map[uint64]time.Duration{}}
}

// Core returns the protocol core.
func (r *Runner) Core() *Core { return r.core }

// Step implements role.Core. Requests that reached the intake before m are
// handled before it, as if they had come through the mailbox: a Committed
// that frees the window then fills the slot with all of them.
func (r *Runner) Step(m any) {
	r.take(false)
	switch m := m.(type) {
	case Doorbell:
	case releaseHold:
		if m.gen == r.holdGen && r.core.Holding() {
			r.core.Step(release{})
		}
	case *msg.Committed:
		r.core.Step(m)
		r.committed(m.Commit)
	default:
		r.core.Step(m)
	}
	r.take(true)
}

// Tick implements role.Core.
func (r *Runner) Tick() {
	r.take(false)
	r.core.Tick()
	r.take(true)
}

// Ready implements role.Core: the core's Ready, and the hold's timer.
func (r *Runner) Ready() role.Ready {
	rd := r.core.Ready()
	r.track(rd.Messages)
	if holding := r.core.Holding(); holding != r.holdArmed {
		r.holdArmed = holding
		if holding {
			r.holdGen++
			rd.Timers = append(rd.Timers, role.Timer{After: r.holdFor(), Msg: releaseHold{gen: r.holdGen}})
		} else {
			rd.StopTimers = true
		}
	}
	r.publish()
	return rd
}

// Advance implements role.Core.
func (r *Runner) Advance() { r.core.Advance() }

// take steps the requests waiting in the intake; with rearm it then tells
// the intake when to ring next.
func (r *Runner) take(rearm bool) {
	if r.intake == nil {
		return
	}
	for {
		r.taken = r.intake.Take(r.taken[:0])
		if len(r.taken) > 0 {
			r.core.Step(requests(r.taken))
			clear(r.taken)
		}
		if !rearm || !r.intake.Want(r.core.RequestsWanted()) {
			return
		}
	}
}

// holdFor is how long a hold may last: about one commit latency, which is
// what a command answered just too late for the slot would otherwise wait
// for it to be chosen. (Half and twice that did no better at 64 clients,
// over TCP and in memory.) The bounds keep a stray measurement from making
// it useless or long.
func (r *Runner) holdFor() time.Duration {
	return min(max(r.commitAvg, 20*time.Microsecond), 2*time.Millisecond)
}

// track notes when each slot was first proposed, for the commit latency.
func (r *Runner) track(out []msg.Out) {
	if r.hooks.Commit == nil && r.hooks.Batch == nil && !r.core.cfg.HoldBatches {
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
			if _, seen := r.sent[p.Slot]; !seen {
				r.sent[p.Slot] = r.now()
				if r.hooks.Batch != nil && p.Value != nil && len(p.Value.Cmds) > 0 {
					r.hooks.Batch(len(p.Value.Cmds))
				}
			}
		}
	}
}

func (r *Runner) committed(commit uint64) {
	if len(r.sent) == 0 {
		return
	}
	now := r.now()
	for s, t := range r.sent {
		if s <= commit {
			d := now - t
			if r.hooks.Commit != nil {
				r.hooks.Commit(d)
			}
			if r.commitAvg == 0 {
				r.commitAvg = d
			} else {
				r.commitAvg += (d - r.commitAvg) / 8
			}
			delete(r.sent, s)
		}
	}
	if !r.core.IsLeader() {
		clear(r.sent)
	}
}

func (r *Runner) publish() {
	if r.hooks.Status == nil {
		return
	}
	st := r.core.Status()
	if st.Role != r.last.Role || st.Leader != r.last.Leader || st.Ballot != r.last.Ballot || st.Commit != r.last.Commit ||
		st.Transferring != r.last.Transferring {
		r.last = st
		r.hooks.Status(st)
	}
}
