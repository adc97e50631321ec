package sim

// This file is the simulator's only dependency on the role cores: it builds
// them as node does (roles.Set.Build) and drives them with the same
// role.Driver the actors use, under an Env of simulated time. Everything else
// routes msg.Out values by Target and treats messages as opaque.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/learner"
	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/actors/roles"
	"github.com/rsml-go/rsml/msg"
)

// unit is the real time one unit of simulated time stands for: a tick is
// tickUnits units and 10 ms, as node's default tick.
const unit = 10 * time.Millisecond / tickUnits

// timing is the cluster's protocol settings, as node.Config's defaults turn
// them into ticks (10 ms per tick), with a short snapshot interval so that
// snapshots, truncation and installs happen in every run.
func timing(id msg.NodeID, members *membership.History) roles.Params {
	return roles.Params{ID: id, Members: members, HeartbeatTicks: 5, ElectionTicks: 15, LeaseTicks: 10, ResendTicks: 10,
		Window: 16, MaxBatch: 1024, MaxBatchBytes: 4 << 20, MaxQueue: 100000,
		SnapshotEvery: 5, MaxSessions: 1000, MaxCatchup: 8}
}

// roleCore is one role of a simulated replica: its driver, and the
// generation of its timers (StopTimers cancels those of earlier ones).
type roleCore struct {
	d        *role.Driver
	timerGen uint64
}

// simEnv is a role's Env: sends go through the simulated network, and
// snapshot saves and timers become events of the simulated clock.
type simEnv struct {
	s    *sim
	r    *replica
	role msg.Role
	rc   *roleCore
}

func (e simEnv) Send(out []msg.Out) { e.s.send(e.r, out) }

// Save runs the save a little later, while the role goes on: the outcome
// comes back to the role as a local message. A crash first loses it, as a
// process killed mid-save leaves the snapshot before it.
func (e simEnv) Save(job *role.SnapshotJob) {
	s, r, to := e.s, e.r, msg.Target{Node: e.r.id, Role: e.role}
	inc := r.inc
	s.after(1+s.rngNet.Int64N(tickUnits/2), func() {
		if !r.up || r.inc != inc {
			return
		}
		s.sendLocal(r, msg.Out{To: to, Msg: role.SaveSnapshot(r.store.Snapshots(), job)})
	})
}

// After schedules the timer's message on the simulated clock.
func (e simEnv) After(t role.Timer) {
	s, r, rc, to := e.s, e.r, e.rc, msg.Target{Node: e.r.id, Role: e.role}
	inc, gen := r.inc, rc.timerGen
	s.after(max(1, int64(t.After/unit)), func() {
		if r.up && r.inc == inc && rc.timerGen == gen && r.roles[to.Role] == rc {
			s.sendLocal(r, msg.Out{To: to, Msg: t.Msg})
		}
	})
}

func (e simEnv) StopTimers() { e.rc.timerGen++ }

// buildRole (re)creates one role of replica r from its durable state, as the
// role's actor does at every start, and carries out what it does on start.
func (s *sim) buildRole(r *replica, which msg.Role, rng *rand.Rand) (*roleCore, error) {
	p := timing(r.id, s.members0)
	p.Witness = r.witness
	set, err := roles.For(p)
	if err != nil {
		return nil, err
	}
	set.Proposer.Planted = s.cfg.Bugs.hold()
	core, err := set.Build(which, r.store, r.sm, roles.Env{Intake: r.intake, Rand: rng,
		Now: func() time.Duration { return time.Duration(s.now) * unit }})
	if err != nil {
		return nil, err
	}
	rc := &roleCore{}
	rc.d = role.NewDriver(core, r.store, simEnv{s: s, r: r, role: which, rc: rc})
	r.roles[which] = rc
	return rc, rc.d.Start()
}

// step feeds a message to a role; tick ticks it.
func (rc *roleCore) step(m any) error { return rc.d.Step(m) }
func (rc *roleCore) tick() error      { return rc.d.Tick() }

// isFail reports whether err asks for the role to be restarted from storage
// (the actor panics, and its supervisor restarts it).
func isFail(err error) bool {
	var f *role.FailError
	return errors.As(err, &f)
}

func proposerOf(rc *roleCore) *proposer.Core {
	if rc == nil {
		return nil
	}
	if p, ok := rc.d.Core().(*proposer.Runner); ok {
		return p.Core()
	}
	return nil
}

func executorOf(rc *roleCore) *executor.Core {
	if rc == nil {
		return nil
	}
	e, _ := rc.d.Core().(*executor.Core)
	return e
}

// leaderView is what a client on this replica watches to resend a request
// when the leader changes (node.Propose does the same through its status hook).
func leaderView(rc *roleCore) (msg.NodeID, msg.Ballot) {
	p := proposerOf(rc)
	if p == nil {
		return 0, msg.Ballot{}
	}
	st := p.Status()
	return st.Leader, st.Ballot
}

// isLeader reports whether rc is a proposer leading with phase 1 done.
func isLeader(rc *roleCore) bool {
	p := proposerOf(rc)
	return p != nil && p.IsLeader()
}

// executorState returns the executor's applied slot, rev and snapshot bytes;
// ok is false if rc is not an executor.
func executorState(rc *roleCore) (applied, rev uint64, snap []byte, ok bool, err error) {
	e := executorOf(rc)
	if e == nil {
		return 0, 0, nil, false, nil
	}
	snap, err = e.Snapshot()
	return e.Applied(), e.Rev(), snap, true, err
}

// executorApplied is executorState without the snapshot, for the hot path.
func executorApplied(rc *roleCore) (uint64, bool) {
	e := executorOf(rc)
	if e == nil {
		return 0, false
	}
	return e.Applied(), true
}

// describeRole summarises a role's state for a failing run's report.
func describeRole(rc *roleCore) string {
	if rc == nil {
		return "down"
	}
	switch c := rc.d.Core().(type) {
	case *proposer.Runner:
		st := c.Core().Status()
		return fmt.Sprintf("proposer %s leader %d ballot %s commit %d next %d queued %d in flight %d",
			st.Role, st.Leader, st.Ballot, st.Commit, st.NextSlot, st.Queued, st.InFlight)
	case *learner.Core:
		return fmt.Sprintf("learner delivered %d", c.Delivered())
	case *executor.Core:
		return fmt.Sprintf("executor applied %d rev %d", c.Applied(), c.Rev())
	}
	return fmt.Sprintf("%T", rc.d.Core())
}
