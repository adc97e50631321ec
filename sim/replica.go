package sim

// This file is the simulator's only dependency on the role cores' constructors
// and methods: when a core's signature changes, adapt it here. Everything else
// routes msg.Out values by Target and treats messages as opaque.

import (
	"fmt"
	"math/rand/v2"

	"github.com/rsml-go/rsml/actors/acceptor"
	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/learner"
	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// roleCore is what the simulator needs of any role: feed it a message or a
// tick, get back what it sends. An error stops the role for good, as the
// actor stops answering after a storage failure.
type roleCore interface {
	step(m any) ([]msg.Out, error)
	tick() ([]msg.Out, error)
}

// flusher is a role that buffers answers until their state is durable (the
// acceptor's group commit). hasReady says a flush is due; flush persists and
// returns the answers to send.
type flusher interface {
	hasReady() bool
	flush() ([]msg.Out, error)
}

// timing is the cluster's protocol settings in ticks, as node.Config's
// defaults turn them into ticks (10 ms per tick).
type timing struct {
	heartbeat, election, lease, resend int
	window, maxBatch, maxQueue         int
	stall, maxCatchup                  int
	snapshotEvery                      uint64
	maxSessions                        int
}

func defaultTiming() timing {
	return timing{heartbeat: 5, election: 15, lease: 10, resend: 10,
		window: 16, maxBatch: 1024, maxQueue: 100000,
		stall: 2, maxCatchup: 8, snapshotEvery: 5, maxSessions: 1000}
}

// buildRole rebuilds one role of replica id from its durable state, the way
// the role's actor does in its Started handler. sm is the replica's state
// machine (shared by successive executor incarnations, as node.Start shares
// it); rng seeds the proposer's election timeouts. start is what the fresh
// role sends at once (learner and executor announce themselves).
func buildRole(role msg.Role, id msg.NodeID, ids []msg.NodeID, t timing, st storage.Store,
	sm executor.StateMachine, rng *rand.Rand) (core roleCore, start []msg.Out, err error) {
	switch role {
	case msg.RoleProposer:
		used, err := st.Proposer().LoadBallot()
		if err != nil {
			return nil, nil, err
		}
		cfg := proposer.Config{ID: id, Replicas: ids, HeartbeatTicks: t.heartbeat, ElectionTicks: t.election,
			ResendTicks: t.resend, Window: t.window, HoldBatches: true, MaxBatch: t.maxBatch, MaxBatchBytes: 4 << 20,
			MaxQueue: t.maxQueue, MaxHops: 3, Rand: rng}
		return &proposerRole{c: proposer.New(cfg, used, st.Chosen().Last()), ballots: st.Proposer(), saved: used}, nil, nil
	case msg.RoleAcceptor:
		s, err := st.Acceptor().Load()
		if err != nil {
			return nil, nil, err
		}
		cfg := acceptor.Config{ID: id, Learners: ids, LeaseTicks: t.lease}
		return &acceptorRole{c: acceptor.New(cfg, s), log: st.Acceptor()}, nil, nil
	case msg.RoleLearner:
		cfg := learner.Config{ID: id, Acceptors: ids, StallTicks: t.stall, ResendTicks: t.resend,
			MaxCatchup: t.maxCatchup, MaxCatchupBytes: 8 << 20}
		c, err := learner.New(cfg, st.Chosen(), st.Snapshots())
		if err != nil {
			return nil, nil, err
		}
		return &learnerRole{c: c}, c.Start(), nil
	case msg.RoleExecutor:
		cfg := executor.Config{ID: id, SnapshotEvery: t.snapshotEvery, MaxSessions: t.maxSessions}
		c, err := executor.New(cfg, sm, st.Snapshots())
		if err != nil {
			return nil, nil, err
		}
		return &executorRole{c: c}, c.Start(), nil
	}
	return nil, nil, nil
}

// leaderView is what a client on this replica watches to resend a request
// when the leader changes (node.Propose does the same through its status hook).
func leaderView(core roleCore) (msg.NodeID, msg.Ballot) {
	p, ok := core.(*proposerRole)
	if !ok {
		return 0, msg.Ballot{}
	}
	st := p.c.Status()
	return st.Leader, st.Ballot
}

// isLeader reports whether core is a proposer leading with phase 1 done.
func isLeader(core roleCore) bool {
	p, ok := core.(*proposerRole)
	return ok && p.c.IsLeader()
}

// executorState returns the executor's applied slot, rev and snapshot bytes;
// ok is false if core is not an executor.
func executorState(core roleCore) (applied, rev uint64, snap []byte, ok bool, err error) {
	e, isExec := core.(*executorRole)
	if !isExec {
		return 0, 0, nil, false, nil
	}
	snap, err = e.c.Snapshot()
	return e.c.Applied(), e.c.Rev(), snap, true, err
}

// executorApplied is executorState without the snapshot, for the hot path.
func executorApplied(core roleCore) (uint64, bool) {
	e, ok := core.(*executorRole)
	if !ok {
		return 0, false
	}
	return e.c.Applied(), true
}

type proposerRole struct {
	c       *proposer.Core
	ballots storage.BallotLog
	saved   msg.Ballot
}

func (p *proposerRole) step(m any) ([]msg.Out, error) { return p.persist(p.c.Step(m)) }
func (p *proposerRole) tick() ([]msg.Out, error)      { return p.persist(p.c.Tick()) }

// persist saves a new ballot before anything produced with it is sent, as
// the proposer actor does.
func (p *proposerRole) persist(out []msg.Out) ([]msg.Out, error) {
	if b := p.c.Ballot(); p.saved.Less(b) {
		if err := p.ballots.SaveBallot(b); err != nil {
			return nil, err
		}
		p.saved = b
	}
	return out, nil
}

type acceptorRole struct {
	c   *acceptor.Core
	log storage.AcceptorLog
}

func (a *acceptorRole) step(m any) ([]msg.Out, error) { return a.c.Step(m), nil }
func (a *acceptorRole) tick() ([]msg.Out, error)      { a.c.Tick(); return nil, nil }
func (a *acceptorRole) hasReady() bool                { return a.c.HasReady() }

func (a *acceptorRole) flush() ([]msg.Out, error) {
	rec, persist, out := a.c.Ready()
	if persist {
		if err := a.log.Append(rec); err != nil {
			return nil, err
		}
	}
	return out, nil
}

type learnerRole struct{ c *learner.Core }

func (l *learnerRole) step(m any) ([]msg.Out, error) { return l.c.Step(m) }
func (l *learnerRole) tick() ([]msg.Out, error)      { return l.c.Tick(), nil }

type executorRole struct{ c *executor.Core }

func (e *executorRole) step(m any) ([]msg.Out, error) {
	out, err := e.c.Step(m)
	// A failed snapshot only costs a longer restart; the actor logs it and
	// goes on, so the simulator does too (memory storage never fails).
	_ = err
	return out, nil
}
func (e *executorRole) tick() ([]msg.Out, error) { e.c.Tick(); return nil, nil }

// describeRole summarises a role's state for a failing run's report.
func describeRole(core roleCore) string {
	switch c := core.(type) {
	case *proposerRole:
		st := c.c.Status()
		return fmt.Sprintf("proposer %s leader %d ballot %s commit %d next %d queued %d in flight %d",
			st.Role, st.Leader, st.Ballot, st.Commit, st.NextSlot, st.Queued, st.InFlight)
	case *acceptorRole:
		return fmt.Sprintf("acceptor promised %s", c.c.Promised())
	case *learnerRole:
		return fmt.Sprintf("learner delivered %d", c.c.Delivered())
	case *executorRole:
		return fmt.Sprintf("executor applied %d rev %d", c.c.Applied(), c.c.Rev())
	}
	return "down"
}
