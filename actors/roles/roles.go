// Package roles builds a replica's four role cores: their settings from one
// set of parameters, and each core from storage as every (re)start does. The
// replica (node) and the simulator both build their roles here, so that the
// simulator runs the roles exactly as production configures them.
package roles

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rsml-go/rsml/actors/acceptor"
	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/learner"
	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Params are what may differ between replicas and runs: membership, timing
// in ticks and limits. Everything else is fixed here.
type Params struct {
	ID       msg.NodeID
	Replicas []msg.NodeID
	// Members is the cluster's first configuration; nil: Replicas, each
	// running every role, with membership.DefaultAlpha.
	Members *membership.History

	HeartbeatTicks, ElectionTicks, LeaseTicks, ResendTicks int

	Window, MaxBatch, MaxBatchBytes, MaxQueue int
	SnapshotEvery, SnapshotBytes              uint64
	MaxSessions                               int
	// MaxCatchup bounds the slots of one catch-up reply.
	MaxCatchup int
	// Witness: this replica holds no state machine (acceptor only); its
	// acceptor and learner keep to what that allows.
	Witness bool
}

// The settings every replica shares.
const (
	// maxHops bounds forwarding between proposers that disagree on the
	// leader.
	maxHops = 3
	// stallTicks is how long a learner behind waits for gaps to close on
	// their own before it fetches from a peer.
	stallTicks = 2
	// maxCatchupBytes bounds a catch-up reply and a snapshot chunk.
	maxCatchupBytes = 8 << 20
)

// Set is the four roles' settings of one replica.
type Set struct {
	Proposer proposer.Config
	Acceptor acceptor.Config
	Learner  learner.Config
	Executor executor.Config
}

// For returns the roles' settings for p.
func For(p Params) (Set, error) {
	if p.Members == nil {
		h, err := membership.Bootstrap(membership.DefaultAlpha, learner.Everyone(p.Replicas))
		if err != nil {
			return Set{}, fmt.Errorf("roles: %w", err)
		}
		p.Members = h
	}
	return Set{
		Proposer: proposer.Config{ID: p.ID, Members: p.Members, HeartbeatTicks: p.HeartbeatTicks,
			ElectionTicks: p.ElectionTicks, ResendTicks: p.ResendTicks, Window: p.Window, HoldBatches: true,
			MaxBatch: p.MaxBatch, MaxBatchBytes: p.MaxBatchBytes, MaxQueue: p.MaxQueue, MaxHops: maxHops},
		Acceptor: acceptor.Config{ID: p.ID, LeaseTicks: p.LeaseTicks, Witness: p.Witness},
		Learner: learner.Config{ID: p.ID, Members: p.Members, SnapshotMembers: executor.SnapshotMembers,
			StallTicks: stallTicks, ResendTicks: p.ResendTicks, MaxCatchup: p.MaxCatchup, MaxCatchupBytes: maxCatchupBytes,
			Witness: p.Witness},
		Executor: executor.Config{ID: p.ID, SnapshotEvery: p.SnapshotEvery, SnapshotBytes: p.SnapshotBytes, MaxSessions: p.MaxSessions, Members: p.Members},
	}, nil
}

// Members returns the membership as of the end of the chosen log in st: the
// snapshot's, then every change the log holds above it. first is the
// cluster's first configuration.
func Members(first *membership.History, st role.Storage) (*membership.History, error) {
	h, from := first, uint64(0)
	slot, m, found, carried, err := executor.LoadSnapshotMembers(st.Snapshots())
	if err != nil {
		return nil, fmt.Errorf("snapshot membership: %w", err)
	}
	if found {
		from = slot
		if carried {
			h = m
		}
	}
	log := st.Chosen()
	err = storage.Changes(log, from, log.Last(), func(s uint64, change []byte) {
		h, _ = h.Apply(s, change)
	})
	if err != nil {
		return nil, fmt.Errorf("membership changes: %w", err)
	}
	return h, nil
}

// Env is what the proposer needs besides storage: this replica's intake of
// client requests, its clock, its hooks, and the source of its election
// jitter for this incarnation.
type Env struct {
	Intake *proposer.Intake
	Now    func() time.Duration
	Hooks  proposer.Hooks
	Rand   *rand.Rand
}

// Build makes role r's core from storage, as every (re)start of the role
// does. sm is the replica's state machine, shared by the executor's
// incarnations.
func (s Set) Build(r msg.Role, st role.Storage, sm executor.StateMachine, env Env) (role.Core, error) {
	switch r {
	case msg.RoleProposer:
		used, err := st.Proposer().LoadBallot()
		if err != nil {
			return nil, fmt.Errorf("proposer: load the last ballot: %w", err)
		}
		cfg := s.Proposer
		cfg.Rand = env.Rand
		// The membership as of the commit point, as the learner rebuilds
		// it: a proposer restarted on its own would otherwise count
		// promises and send Accepts by the first configuration.
		members, err := Members(s.Proposer.Members, st)
		if err != nil {
			return nil, fmt.Errorf("proposer: %w", err)
		}
		cfg.Members = members
		return proposer.NewRunner(proposer.New(cfg, used, st.Chosen().Last()), env.Intake, env.Now, env.Hooks), nil
	case msg.RoleAcceptor:
		return acceptor.Load(s.Acceptor, st.Acceptor())
	case msg.RoleLearner:
		return learner.New(s.Learner, st.Chosen(), st.Snapshots())
	case msg.RoleExecutor:
		return executor.New(s.Executor, sm, st.Snapshots())
	}
	return nil, fmt.Errorf("roles: no role %v", r)
}

// StopGrace is how many election timeouts a replica keeps its acceptor
// after the configuration stopped giving it a vote: replicas behind it may
// still need that vote to elect a leader in the configuration that had it.
const StopGrace = 3

// RunsAcceptor reports whether replica id runs its acceptor, by membership h
// as of its commit point: while it is an acceptor of a configuration that
// governs a slot after commit (in force or pending). A replica that is none
// (an observer, a replica not yet promoted, one demoted or removed once the
// slots it had a vote in are decided) has nothing to vote on; its acceptor's
// durable state stays on disk for a later promotion, since its promises
// must hold then. A replica whose view is behind only starts or stops its
// acceptor late: a stopped acceptor is as safe as a crashed one.
func RunsAcceptor(h *membership.History, id msg.NodeID, commit uint64) bool {
	for _, c := range h.Span(commit+1, max(commit+h.Alpha, h.LatestFrom())) {
		if c.Runs(id, membership.Acceptor) {
			return true
		}
	}
	return false
}
