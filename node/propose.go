package node

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/rsml-go/rsml/msg"
)

// Propose and its machinery: attempts that may have been proposed, retries
// on leader changes and timers, the answers that settle a call after its
// deadline, and the node's own exactly-once session, which makes a retry
// harmless.

// Result is the outcome of an applied command.
type Result struct {
	Slot uint64 // the slot that chose the command
	Rev  uint64 // the command's rev, the same on every replica
	Data []byte // what the state machine's Apply returned
}

// ProposeOption tags or tunes one proposal.
type ProposeOption func(*msg.Command)

// WithSession tags the command for exactly-once execution: a retried
// (client, seq) is answered from the executor's session table instead of being
// applied again. acked tells the executor that the client has the answers of
// every seq up to acked, so it may forget them.
func WithSession(client, seq, acked uint64) ProposeOption {
	return func(c *msg.Command) { c.Client, c.Seq, c.Acked = client, seq, acked }
}

// deadline returns when a call on ctx must give up: ctx's deadline, or
// ProposeTimeout from now if it has none. The default deadline is kept as a
// time rather than a derived context, so a call costs no context and no timer
// of its own (both showed up in profiles with 64 concurrent writers); the
// call's retry timer also fires at the deadline, and ctx.Done still covers
// cancellation.
func (n *Node) deadline(ctx context.Context) time.Time {
	if d, ok := ctx.Deadline(); ok {
		return d
	}
	return time.Now().Add(n.cfg.ProposeTimeout)
}

// arm sets a call's timer to fire after RetryInterval, or at the deadline if
// that comes first.
func (n *Node) arm(t *time.Timer, deadline time.Time) {
	resetTimer(t, min(n.cfg.RetryInterval, time.Until(deadline)))
}

// ctxErr is the error of a call that ends at its deadline or by ctx.
func ctxErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return context.DeadlineExceeded
}

// indeterminate wraps cause in ErrIndeterminate. The sentinels that say "not
// proposed" stay in the text only: an error matching ErrIndeterminate and
// ErrStopped would let a caller who tests for ErrStopped first take a write
// that may be applied for one that certainly was not.
func indeterminate(cause error) error {
	if errors.Is(cause, ErrStopped) || errors.Is(cause, ErrNoLeader) || errors.Is(cause, ErrOverloaded) {
		return fmt.Errorf("%w: %v", ErrIndeterminate, cause)
	}
	return fmt.Errorf("%w: %w", ErrIndeterminate, cause)
}

// attempts holds the attempts of a call that were not turned away: any of
// them may have been proposed, so a deadline then means the outcome is
// unknown. Rejects name their attempt: a duplicated request draws two
// Rejects for one attempt, which must not count twice. Few calls make more
// than a handful of attempts, so a slice beats a map.
type attempts []uint32

// withOptions applies opts to c. Apart from Propose so that only calls with
// options pay for c on the heap (the options see its address); inlined, it
// would put every call's c there.
//
//go:noinline
func withOptions(c msg.Command, opts []ProposeOption) msg.Command {
	for _, o := range opts {
		o(&c)
	}
	return c
}

// without returns a less the attempt at. (A method assigning through
// *attempts made the caller's stack buffer escape: an allocation per call.)
func (a attempts) without(at uint32) attempts {
	for i, x := range a {
		if x == at {
			return append(a[:i], a[i+1:]...)
		}
	}
	return a
}

// Propose replicates cmd and returns once it is chosen and applied on this
// replica. The error is ErrNoLeader or ErrOverloaded if the command was
// certainly not proposed, ErrIndeterminate if its fate is unknown.
//
// Unless WithSession tags it, the command is tagged with the node's own
// session, so Propose can send it again when the leader changes (a request
// forwarded to a leader that died is lost) without applying it twice.
func (n *Node) Propose(ctx context.Context, cmd []byte, opts ...ProposeOption) (Result, error) {
	if n.cfg.Witness {
		return Result{}, ErrWitness
	}
	deadline := n.deadline(ctx)
	w := n.waiters.open()
	defer n.waiters.close(w)
	c := msg.Command{Origin: n.cfg.ID, Reply: w.ref, Data: append([]byte(nil), cmd...)}
	if len(opts) > 0 {
		c = withOptions(c, opts)
	}
	start := time.Now()
	n.inflight.Add(1)
	defer func() {
		n.inflight.Add(-1)
		n.metrics.observePropose(time.Since(start))
	}()
	own := c.Client == 0
	tag := func() {
		session, seq, acked := n.nextTag()
		c.Client, c.Seq, c.Acked = session, seq, acked
	}
	if own {
		tag()
		defer func() { n.finishTag(c.Seq) }()
	}
	var buf [4]uint32
	outstanding := attempts(buf[:0])
	expired := func(err error) error {
		if len(outstanding) > 0 {
			return indeterminate(err)
		}
		return fmt.Errorf("%w: %w", ErrNoLeader, err)
	}
	// timedOut settles the answers already on their way (a reject from our
	// own proposer takes microseconds), which tell "not proposed" from
	// "unknown".
	timedOut := func() (Result, error) {
		r, rest, ok := n.settle(w, outstanding)
		if ok {
			return r, nil
		}
		outstanding = rest
		return Result{}, expired(ctxErr(ctx))
	}
	for attempt := uint32(1); ; attempt++ {
		if n.isStopped() {
			return Result{}, expired(ErrStopped)
		}
		changed := n.leaderChanged()
		n.intake.Push(&msg.ClientRequest{Cmd: c, Attempt: attempt})
		outstanding = append(outstanding, attempt)
		n.arm(w.timer, deadline)
		select {
		case m := <-w.ch:
			switch m := m.(type) {
			case *msg.Result:
				if m.Code == msg.ErrSessionExpired && own && len(outstanding) == 1 {
					// The executors forgot our session; this command was
					// not applied (and no other attempt is out). Go on in a
					// new session.
					n.renewSession(c.Client)
					n.finishTag(c.Seq)
					tag()
					outstanding = outstanding[:0]
					continue
				}
				if own {
					n.sessionAnswered(c.Client)
				}
				if err := codeErr(m.Code, ""); err != nil {
					return Result{}, err
				}
				return Result{Slot: m.Slot, Rev: m.Rev, Data: m.Data}, nil
			case *msg.Reject:
				outstanding = outstanding.without(m.Attempt)
				// Not proposed: wait for a leader, then try again.
				if err := n.backoff(ctx, deadline, int(attempt)-1, changed); err != nil {
					if r := m; r.Reason == msg.RejectOverloaded && len(outstanding) == 0 {
						return Result{}, fmt.Errorf("%w: %w", ErrOverloaded, err)
					}
					return Result{}, expired(err)
				}
			}
		case <-changed:
			// The request may have gone to a leader that is gone: again (the
			// tag makes a second copy harmless).
		case <-w.timer.C:
			if !time.Now().Before(deadline) {
				return timedOut()
			}
		case <-ctx.Done():
			return timedOut()
		case <-n.stopped:
			return Result{}, expired(ErrStopped)
		}
	}
}

// settleTime is how long a call whose deadline passed still listens for the
// answers of its outstanding attempts.
const settleTime = 50 * time.Millisecond

// settle collects, for a short while, the answers of attempts still
// outstanding when the deadline passed: a Result makes the call a success
// after all; Rejects lower the count of attempts that may have been proposed.
//
// It returns the attempts still unanswered: the caller's answer ("not
// proposed" or "unknown") depends on them.
func (n *Node) settle(w *waiter, outstanding attempts) (Result, attempts, bool) {
	if len(outstanding) == 0 {
		return Result{}, outstanding, false
	}
	resetTimer(w.timer, settleTime)
	for len(outstanding) > 0 {
		select {
		case m := <-w.ch:
			switch m := m.(type) {
			case *msg.Result:
				if m.Code == msg.ErrNone {
					return Result{Slot: m.Slot, Rev: m.Rev, Data: m.Data}, outstanding, true
				}
			case *msg.Reject:
				outstanding = outstanding.without(m.Attempt)
			}
		case <-w.timer.C:
			return Result{}, outstanding, false
		}
	}
	return Result{}, outstanding, false
}

// backoff waits before retrying a request that was turned away: until the
// leader changes, or a short, growing delay passes. It returns an error if
// the call's deadline comes first.
func (n *Node) backoff(ctx context.Context, deadline time.Time, attempt int, changed <-chan struct{}) error {
	d := min(time.Duration(attempt+1)*5*time.Millisecond, 100*time.Millisecond)
	left := time.Until(deadline)
	if left <= 0 {
		return ctxErr(ctx)
	}
	t := time.NewTimer(min(d, left))
	defer t.Stop()
	select {
	case <-t.C:
		if d >= left {
			return ctxErr(ctx)
		}
		return nil
	case <-changed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-n.stopped:
		return ErrStopped
	}
}

func (n *Node) isStopped() bool {
	select {
	case <-n.stopped:
		return true
	default:
		return false
	}
}

// nextTag returns the node's session, a new seq in it and the acked
// watermark. The watermark stays 0 until the executor has answered one
// command of the session: a request claiming earlier answers for a session
// the executor never saw (its first commands were all lost) is refused as
// expired, forever.
func (n *Node) nextTag() (session, seq, acked uint64) {
	n.seqMu.Lock()
	defer n.seqMu.Unlock()
	n.nextSeq++
	if n.sessionLive {
		acked = n.ackedSeq
	}
	return n.session, n.nextSeq, acked
}

// sessionAnswered records that the executor answered a command of session:
// it exists there, so the watermark may go out.
func (n *Node) sessionAnswered(session uint64) {
	n.seqMu.Lock()
	defer n.seqMu.Unlock()
	if session == n.session {
		n.sessionLive = true
	}
}

// renewSession starts a new session after the executor forgot session
// (evicted past MaxSessions): every later command is tagged with the new one.
func (n *Node) renewSession(session uint64) {
	n.seqMu.Lock()
	defer n.seqMu.Unlock()
	if session == n.session {
		n.session = rand.Uint64() | 1
		n.sessionLive = false
	}
}

// finishTag records that seq needs no answer any more.
func (n *Node) finishTag(seq uint64) {
	n.seqMu.Lock()
	defer n.seqMu.Unlock()
	n.finished[seq] = struct{}{}
	for {
		if _, ok := n.finished[n.ackedSeq+1]; !ok {
			break
		}
		delete(n.finished, n.ackedSeq+1)
		n.ackedSeq++
	}
}
