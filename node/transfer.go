package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
)

// Errors of TransferLeadership callers branch on.
var (
	// ErrCannotLead: the replica named is not a member, or has not answered
	// the leader lately (down, or cut off), or there is no other replica to
	// hand over to.
	ErrCannotLead = errors.New("rsml: no such replica can lead")
	// ErrTransferTimeout: leadership did not move before the deadline.
	ErrTransferTimeout = errors.New("rsml: leadership transfer timed out")
)

// TransferLeadership moves leadership to target, or with target 0 to the
// follower the leader heard from last, and returns the new leader and its
// ballot once this replica knows it leads. Any replica may call it.
//
// The leader opens no new slot, waits until the slots it opened are chosen,
// and tells the target to campaign at once (past the acceptors' lease, which
// otherwise refuses a challenger to a live leader). No write fails for it:
// writes that arrive meanwhile wait, and the old leader forwards them to the
// new one. The leader answers the request with the target and its own
// ballot, and the call is done when this replica sees the target lead at a
// higher ballot (with target 0, any replica but the one that answered): a
// stale view of who leads cannot pass for a handover. If the target does
// not answer the leader (it is down, or cut off), the call fails at once
// with ErrCannotLead and the leader never pauses; if it does not lead within
// an election timeout the leader leads on, and the call asks again until its
// deadline (ctx's, or ProposeTimeout), then fails with ErrTransferTimeout. A target that already
// leads is success as soon as it says so.
func (n *Node) TransferLeadership(ctx context.Context, target msg.NodeID) (msg.NodeID, msg.Ballot, error) {
	latest := n.members.Load().Latest()
	if target != 0 && !latest.Runs(target, membership.Proposer) {
		return 0, msg.Ballot{}, fmt.Errorf("%w: %d is not a proposer of the configuration", ErrCannotLead, target)
	}
	if target == 0 && len(latest.With(membership.Proposer)) < 2 {
		return 0, msg.Ballot{}, fmt.Errorf("%w: the cluster has no other replica", ErrCannotLead)
	}
	deadline := n.deadline(ctx)
	w := n.waiters.open()
	defer n.waiters.close(w)
	var started *msg.TransferStarted // the leader's answer
	var hint msg.NodeID              // the leader a Reject named
	for {
		changed := n.leaderChanged()
		st := n.Status()
		if started != nil && st.Leader != 0 && !st.Ballot.Less(started.Ballot) {
			from := started.Ballot.ID // the leader that answered
			switch {
			case st.Leader == started.Target && (started.Target == from || started.Ballot.Less(st.Ballot)),
				// Any replica will do: one other than the leader that
				// answered, at a higher ballot than it answered from.
				target == 0 && st.Leader != from && started.Ballot.Less(st.Ballot):
				return st.Leader, st.Ballot, nil
			}
		}
		to := st.Leader
		if hint != 0 {
			to, hint = hint, 0
		}
		if to != 0 {
			n.book.Send(n.sys.Root, []msg.Out{{To: msg.Target{Node: to, Role: msg.RoleProposer},
				Msg: &msg.TransferLeader{Target: target, Origin: n.cfg.ID, Reply: w.ref}}})
		}
		// Ask again after half an election timeout: the request or the
		// TimeoutNow may have been lost, or the leader gave up on a target
		// that was down and is back.
		resetTimer(w.timer, min(n.cfg.ElectionTimeout/2, time.Until(deadline)))
		select {
		case m := <-w.ch:
			switch m := m.(type) {
			case *msg.TransferStarted:
				if started == nil || started.Ballot.Less(m.Ballot) {
					started = m
				}
			case *msg.Reject:
				if m.Reason == msg.RejectCannotLead {
					return 0, msg.Ballot{}, fmt.Errorf("%w: replica %d has not answered the leader lately", ErrCannotLead, target)
				}
				hint = m.Leader
				if hint == to {
					hint = 0 // it leads, with nobody to hand over to yet
				}
			}
			// Wait for the leader to change, or the timer, before asking
			// again; the answer needs no second request.
			select {
			case <-changed:
			case <-w.timer.C:
			case <-ctx.Done():
			case <-n.stopped:
			}
		case <-changed:
		case <-w.timer.C:
		case <-ctx.Done():
		case <-n.stopped:
			return 0, msg.Ballot{}, ErrStopped
		}
		if ctx.Err() != nil || !time.Now().Before(deadline) {
			if st := n.Status(); st.Leader == 0 {
				return 0, msg.Ballot{}, fmt.Errorf("%w: %w", ErrNoLeader, ctxErr(ctx))
			}
			return 0, msg.Ballot{}, fmt.Errorf("%w: replica %d still leads", ErrTransferTimeout, n.Status().Leader)
		}
	}
}

// leader serves POST /v1/leader: {"id": "2"} moves leadership to replica 2,
// {} to any other replica.
func (h *httpAPI) leader(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r, "request", 4096)
	if !ok {
		return
	}
	var req struct {
		ID string `json:"id"`
	}
	if len(body) > 0 {
		if err := json.Unmarshal(body, &req); err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "malformed request: "+err.Error())
			return
		}
	}
	var target msg.NodeID
	if req.ID != "" {
		id, err := strconv.ParseUint(req.ID, 10, 32)
		if err != nil || id == 0 {
			writeError(w, http.StatusBadRequest, "bad_request", fmt.Sprintf("id %q is not a replica id", req.ID))
			return
		}
		target = msg.NodeID(id)
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.RequestTimeout)
	defer cancel()
	lead, ballot, err := h.n.TransferLeadership(ctx, target)
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, map[string]string{"leader": lead.String(), "ballot": ballot.String()})
	case errors.Is(err, ErrCannotLead):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, ErrTransferTimeout):
		writeError(w, http.StatusGatewayTimeout, "timeout", err.Error())
	default:
		h.fail(w, err, false)
	}
}
