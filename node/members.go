package node

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/actors/roles"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// Errors of the membership calls that callers branch on.
var (
	// ErrMemberConflict: the change cannot apply to the configuration: an
	// id or address in use, an unknown or retired id, or a configuration
	// left without an acceptor or a proposer. Nothing changed.
	ErrMemberConflict = errors.New("rsml: membership change refused")
	// ErrNotCaughtUp: the change waits for a replica to catch up with the
	// log: a learner to be made an acceptor (it stays a learner; asking
	// again later promotes it), or, where witnesses keep no data, the full
	// replicas that remain before one of them is removed or demoted.
	// Nothing changed.
	ErrNotCaughtUp = errors.New("rsml: the member has not caught up with the log")
	// ErrRemoved: the latest configuration no longer names this replica.
	ErrRemoved = errors.New("rsml: replica removed from the configuration")
)

// Members returns the latest configuration this replica knows (in force,
// or chosen and about to be) and its number.
func (n *Node) Members() (num uint64, members []membership.Member) {
	latest := n.members.Load().Latest()
	return latest.Num, slices.Clone(latest.Members)
}

// FirstMembers returns the cluster's first configuration and α: what a
// replica that joins needs (Config.First) to fold the same changes as every
// other.
func (n *Node) FirstMembers() (alpha uint64, members []membership.Member) {
	return n.first.Alpha, slices.Clone(n.first.Epochs[0].Config.Members)
}

// Removed is closed once a configuration that does not name this replica is
// in force here: it serves no more as a member, and may stop (run exits 0).
func (n *Node) Removed() <-chan struct{} { return n.removed }

// observeMembers takes a new membership from the learner: the Book learns
// the addresses of new members.
func (n *Node) observeMembers(h *membership.History) {
	prev := n.members.Swap(h)
	addrs := map[msg.NodeID]string{}
	for _, e := range h.Epochs {
		for _, m := range e.Config.Members {
			addrs[m.ID] = m.Addr
		}
	}
	n.book.Learn(addrs)
	latest := h.Latest()
	if prev == nil || prev.Latest().Num != latest.Num {
		n.metrics.configChanges.Inc()
		n.logger.Info("membership", "config", latest.Num, "members", latest.IDs(), "from_slot", h.LatestFrom())
	}
}

// gateAcceptor starts or stops the acceptor as the membership h, as of
// commit, gives this replica a vote (roles.RunsAcceptor). The answer
// changes only with h, or when the latest configuration comes into force.
// It starts at once, and stops only after roles.StopGrace election
// timeouts without a vote: replicas behind us may still campaign in the
// configuration that had one, as a removed replica's run waits before it
// exits.
func (n *Node) gateAcceptor(h *membership.History, commit uint64) {
	if inForce := commit+1 >= h.LatestFrom(); h != n.gateH || inForce != n.gateInForce {
		n.gateH, n.gateInForce = h, inForce
		n.gateWant = roles.RunsAcceptor(h, n.cfg.ID, commit)
		n.gateOffSince = time.Time{}
		if !n.gateWant {
			n.gateOffSince = time.Now()
		}
	}
	switch {
	case n.gateWant && !n.acceptorOn:
	case !n.gateWant && n.acceptorOn && time.Since(n.gateOffSince) >= roles.StopGrace*n.cfg.ElectionTimeout:
	default:
		return
	}
	n.acceptorOn = n.gateWant
	n.sys.Root.Send(actor.NewPID(n.sys.Address(), remote.SupervisorName), wantRole{role: msg.RoleAcceptor, on: n.acceptorOn})
}

// checkRemoved closes Removed once a configuration without us is in force:
// every slot before it is delivered here (commit), so the slots we still
// had a vote in are decided.
func (n *Node) checkRemoved(commit uint64) {
	h := n.members.Load()
	latest := h.Latest()
	if _, member := latest.Member(n.cfg.ID); member || h.LatestFrom() > commit+1 || n.cfg.Join && !wasMember(h, n.cfg.ID) {
		return
	}
	n.removeOnce.Do(func() {
		n.logger.Warn("removed from the configuration", "config", latest.Num, "from_slot", h.LatestFrom())
		close(n.removed)
	})
}

// wasMember reports whether a configuration h knows, or the ids it
// retired, named id: a joining replica is no member yet, not a removed one.
func wasMember(h *membership.History, id msg.NodeID) bool {
	if h.IsRetired(id) {
		return true
	}
	for _, e := range h.Epochs {
		if _, ok := e.Config.Member(id); ok {
			return true
		}
	}
	return false
}

// AddMember adds m to the configuration and returns the new configuration's
// number once it is in force. A member with the acceptor role is added in
// two changes: first as a learner, which never counts in a quorum, and then
// with its roles once the leader has heard from it that it is close behind
// the log (64 slots, or α), so that the cluster never waits on a replica that has
// not started or is still fetching a snapshot. Until then the promotion is
// asked again; at ctx's deadline it is ErrNotCaughtUp, and the replica
// stays a learner. m.Roles 0 means every role. A retry of an add that went
// through, in full or as a learner, succeeds or goes on with the promotion.
func (n *Node) AddMember(ctx context.Context, m membership.Member) (uint64, error) {
	if m.Roles == 0 {
		m.Roles = membership.All
	}
	if m.ID == 0 || m.Addr == "" {
		return 0, fmt.Errorf("%w: a member needs an id and an address", ErrMemberConflict)
	}
	first := m
	first.Roles = membership.Learner
	if cur, ok := n.members.Load().Latest().Member(m.ID); ok && cur.Addr == m.Addr && cur.HTTP == m.HTTP {
		first = cur // a retry: added before, perhaps promoted already
	}
	num, err := n.changeMembers(ctx, membership.Add, first)
	if err != nil || first.Roles == m.Roles {
		return num, err
	}
	return n.changeMembers(ctx, membership.SetRoles, m)
}

// RemoveMember removes replica id from the configuration and returns the new
// configuration's number once it is in force. Its id can never be used
// again. Removing the leader moves leadership to another proposer.
func (n *Node) RemoveMember(ctx context.Context, id msg.NodeID) (uint64, error) {
	return n.changeMembers(ctx, membership.Remove, membership.Member{ID: id})
}

// changeMembers proposes one change against the latest configuration known
// here and waits until it is in force. A leader busy with another change,
// or none, means waiting and asking again (the change was not proposed), as
// does no answer within an election timeout; a deadline after it may have
// been proposed is ErrIndeterminate.
func (n *Node) changeMembers(ctx context.Context, op membership.Op, m membership.Member) (uint64, error) {
	deadline := n.deadline(ctx)
	w := n.waiters.open()
	defer n.waiters.close(w)
	sent, stale := false, 0
	var base uint64 // the latest configuration a refusal named
	var ch *membership.Change
	send := true
	for {
		if send {
			ch = &membership.Change{Base: max(base, n.members.Load().Latest().Num), Op: op, Member: m, Origin: n.cfg.ID, Reply: w.ref}
			n.sys.Root.Send(n.local[msg.RoleProposer], &msg.ChangeRequest{Change: ch.Encode(), Origin: n.cfg.ID, Reply: w.ref})
		}
		send = true
		changed := n.leaderChanged()
		resetTimer(w.timer, min(n.cfg.ElectionTimeout, time.Until(deadline)))
		var res *msg.ChangeResult
		select {
		case got := <-w.ch:
			switch got := got.(type) {
			case *msg.ChangeResult:
				res = got
			case *msg.Reject:
				if got.Reason == msg.RejectWitnessRoles && !sent {
					return 0, fmt.Errorf("%w: replica %d is a witness, which takes the acceptor role only", ErrMemberConflict, m.ID)
				}
				// Not proposed: wait for a leader, or for the change under
				// way to take effect, then ask again.
				reason, wait := "no_leader", n.cfg.TickInterval
				switch got.Reason {
				case msg.RejectConfigBusy:
					reason, wait = "busy", 10*n.cfg.TickInterval
				case msg.RejectNotCaughtUp:
					reason, wait = "not_caught_up", 10*n.cfg.TickInterval
				}
				n.metrics.changesWaited.WithLabelValues(reason).Inc()
				resetTimer(w.timer, min(wait, time.Until(deadline)))
				select {
				case <-changed:
				case <-w.timer.C:
				case <-ctx.Done():
				case <-n.stopped:
					return 0, ErrStopped
				}
				if ctx.Err() != nil || !time.Now().Before(deadline) {
					if sent {
						return 0, fmt.Errorf("%w: %w", ErrIndeterminate, ctxErr(ctx))
					}
					if got.Reason == msg.RejectNotCaughtUp {
						if op != membership.Remove && m.Roles.Has(membership.Acceptor) {
							return 0, fmt.Errorf("%w: replica %d stays a learner until it has: %w", ErrNotCaughtUp, m.ID, ctxErr(ctx))
						}
						return 0, fmt.Errorf("%w: replica %d stays a full replica until the full replicas that remain hold what the witnesses dropped (and every witness answers the leader): %w",
							ErrNotCaughtUp, m.ID, ctxErr(ctx))
					}
					return 0, fmt.Errorf("%w: %w", ErrNoLeader, ctxErr(ctx))
				}
				continue
			}
		case <-w.timer.C:
			// No answer: the request or its answer was lost, or the leader
			// moved (or was not reachable from here yet). It may have been
			// proposed; asking again is safe, since a change that is
			// already in force is Done where it is applied.
			sent = true
			if !time.Now().Before(deadline) {
				return 0, fmt.Errorf("%w: %w", ErrIndeterminate, ctxErr(ctx))
			}
			n.metrics.changesWaited.WithLabelValues("no_answer").Inc()
			continue
		case <-ctx.Done():
			return 0, fmt.Errorf("%w: %w", ErrIndeterminate, ctxErr(ctx))
		case <-n.stopped:
			return 0, ErrIndeterminate
		}
		sent = true
		if res.Err != "" && res.Base != ch.Base {
			// The refusal of an earlier attempt, chosen after we asked
			// again: the latest attempt is still under way.
			send = false
			continue
		}
		if res.Err != "" {
			if res.Latest > ch.Base && stale < maxStaleRetries {
				// Refused against a configuration this replica had not
				// caught up with (a replica that just joined): ask again
				// against the latest where it was applied.
				stale++
				base = res.Latest
				continue
			}
			return 0, fmt.Errorf("%w: %s", ErrMemberConflict, res.Err)
		}
		return res.Num, n.waitInForce(ctx, deadline, res.From)
	}
}

// maxStaleRetries bounds how often a change refused against a stale view
// of the configuration is asked again.
const maxStaleRetries = 5

// waitInForce waits until every slot before from is delivered here: the
// configuration that starts at from then governs whatever comes next.
func (n *Node) waitInForce(ctx context.Context, deadline time.Time, from uint64) error {
	t := time.NewTicker(n.cfg.TickInterval)
	defer t.Stop()
	for n.commit.Load()+1 < from {
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%w: chosen, not yet in force: %w", ErrIndeterminate, context.DeadlineExceeded)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("%w: chosen, not yet in force: %w", ErrIndeterminate, ctx.Err())
		case <-n.stopped:
			return ErrStopped
		}
	}
	return nil
}
