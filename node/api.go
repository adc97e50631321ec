package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// Errors callers branch on.
var (
	// ErrNoLeader: no leader could take the request before the deadline. The
	// request was certainly not proposed; retrying it is safe.
	ErrNoLeader = errors.New("rsml: no leader")
	// ErrOverloaded: the leader's queue is full. The request was not proposed.
	ErrOverloaded = errors.New("rsml: overloaded")
	// ErrIndeterminate: the deadline passed after the request may have been
	// proposed; it may or may not be applied. Retry only what is idempotent or
	// tagged with a client id and seq.
	ErrIndeterminate = errors.New("rsml: outcome unknown")
	// ErrStopped: the replica is stopping or stopped.
	ErrStopped = errors.New("rsml: replica stopped")
	// ErrStaleRequest: a tagged request whose seq the client had already
	// acknowledged; it was not applied again.
	ErrStaleRequest = errors.New("rsml: request already acknowledged by its client")
	// ErrSessionExpired: a tagged request of a session the executor forgot
	// (more than MaxSessions clients); it was not applied.
	ErrSessionExpired = errors.New("rsml: client session expired")
	// ErrNoReader: the state machine does not implement executor.Reader, so
	// Read has nothing to ask.
	ErrNoReader = errors.New("rsml: the state machine does not serve reads")
	// ErrReadFailed: the state machine's Read returned an error (wrapped
	// with its message).
	ErrReadFailed = errors.New("rsml: read failed")
)

// codeErr is the sentinel error of an executor's error code (nil for none).
func codeErr(c msg.ErrCode, detail string) error {
	switch c {
	case msg.ErrNone:
		return nil
	case msg.ErrStaleRequest:
		return ErrStaleRequest
	case msg.ErrSessionExpired:
		return ErrSessionExpired
	case msg.ErrNoReader:
		return ErrNoReader
	case msg.ErrReadFailed:
		return fmt.Errorf("%w: %s", ErrReadFailed, detail)
	}
	return fmt.Errorf("rsml: unknown error code %d from the executor", c)
}

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
			return fmt.Errorf("%w: %w", ErrIndeterminate, err)
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

// Read answers query linearizably: it reflects every command acknowledged
// before Read was called. The leader confirms with a quorum that it still
// leads, and this replica answers once it has applied past that point, so no
// read is written to the log.
func (n *Node) Read(ctx context.Context, query []byte) ([]byte, error) {
	deadline := n.deadline(ctx)
	w := n.waiters.open()
	defer n.waiters.close(w)
	req := &msg.ReadRequest{Origin: n.cfg.ID, Reply: w.ref}
	var index uint64
	for attempt := 0; ; attempt++ {
		if n.isStopped() {
			return nil, ErrStopped
		}
		changed := n.leaderChanged()
		n.sys.Root.Send(n.local[msg.RoleProposer], req)
		n.arm(w.timer, deadline)
		var m any
		select {
		case m = <-w.ch:
		case <-changed:
			continue // reads are idempotent: ask again
		case <-w.timer.C:
			if !time.Now().Before(deadline) {
				return nil, fmt.Errorf("%w: %w", ErrNoLeader, ctxErr(ctx))
			}
			continue
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-n.stopped:
			return nil, ErrStopped
		}
		if _, ok := m.(*msg.Reject); ok {
			if err := n.backoff(ctx, deadline, attempt, changed); err != nil {
				return nil, fmt.Errorf("%w: %w", ErrNoLeader, err)
			}
			continue
		}
		if ri, ok := m.(*msg.ReadIndex); ok {
			index = ri.Index
			break
		}
	}
	return n.readAt(ctx, deadline, w, query, index)
}

// StaleRead answers query from this replica's state as it is, without asking
// the leader: fast, but it may miss recent writes.
func (n *Node) StaleRead(ctx context.Context, query []byte) ([]byte, error) {
	deadline := n.deadline(ctx)
	w := n.waiters.open()
	defer n.waiters.close(w)
	return n.readAt(ctx, deadline, w, query, 0)
}

func (n *Node) readAt(ctx context.Context, deadline time.Time, w *waiter, query []byte, index uint64) ([]byte, error) {
	n.sys.Root.Send(n.local[msg.RoleExecutor], &msg.Read{Query: query, Index: index, Reply: w.ref})
	// Only the deadline ends the wait: the executor answers once it has
	// applied through index, however long that takes.
	resetTimer(w.timer, time.Until(deadline))
	for {
		select {
		case m := <-w.ch:
			if rr, ok := m.(*msg.ReadResult); ok {
				if err := codeErr(rr.Code, rr.Detail); err != nil {
					return nil, err
				}
				return rr.Data, nil
			}
		case <-w.timer.C:
			return nil, fmt.Errorf("%w: %w", ErrNoLeader, ctxErr(ctx))
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoLeader, ctx.Err())
		case <-n.stopped:
			return nil, ErrStopped
		}
	}
}

// Get reads key from the built-in KV store linearizably. found is false if
// the key is absent; rev is the rev of the write that set it.
func (n *Node) Get(ctx context.Context, key string) (value []byte, rev uint64, found bool, err error) {
	return n.get(ctx, key, n.Read)
}

// StaleGet reads key from this replica's copy without asking the leader.
func (n *Node) StaleGet(ctx context.Context, key string) (value []byte, rev uint64, found bool, err error) {
	return n.get(ctx, key, n.StaleRead)
}

func (n *Node) get(ctx context.Context, key string, read func(context.Context, []byte) ([]byte, error)) ([]byte, uint64, bool, error) {
	b, err := read(ctx, kv.Get(key))
	if err != nil {
		return nil, 0, false, err
	}
	r, err := kv.DecodeGet(b)
	if err != nil {
		return nil, 0, false, err
	}
	return r.Value, r.Rev, r.Found, nil
}

// Put writes key in the built-in KV store under condition c (the zero Cond
// for none) and returns the write's outcome; WriteResult.OK is false when the
// condition failed, in which case nothing changed.
func (n *Node) Put(ctx context.Context, key string, value []byte, c kv.Cond, opts ...ProposeOption) (kv.WriteResult, error) {
	return n.write(ctx, kv.PutIf(key, value, c), opts)
}

// Delete removes key from the built-in KV store under condition c.
func (n *Node) Delete(ctx context.Context, key string, c kv.Cond, opts ...ProposeOption) (kv.WriteResult, error) {
	return n.write(ctx, kv.DeleteIf(key, c), opts)
}

func (n *Node) write(ctx context.Context, cmd []byte, opts []ProposeOption) (kv.WriteResult, error) {
	res, err := n.Propose(ctx, cmd, opts...)
	if err != nil {
		return kv.WriteResult{}, err
	}
	return kv.DecodeWrite(res.Data)
}

// Txn runs a transaction on the built-in KV store (see kv.Txn): one with a
// write in either branch is proposed as one command and answered once
// applied, like Put; one without writes is a linearizable read (opts do not
// apply to it). The error wraps kv.ErrBadCommand for a transaction the store
// refuses (checked before anything is sent), or is one of Propose's or Read's.
// A transaction whose conditions failed is not an error: it ran its Else
// branch (Succeeded false).
func (n *Node) Txn(ctx context.Context, t kv.Txn, opts ...ProposeOption) (kv.TxnResult, error) {
	cmd, err := t.Encode()
	if err != nil {
		return kv.TxnResult{}, err
	}
	var b []byte
	if t.ReadOnly() {
		b, err = n.Read(ctx, cmd)
	} else {
		var res Result
		res, err = n.Propose(ctx, cmd, opts...)
		b = res.Data
	}
	if err != nil {
		return kv.TxnResult{}, err
	}
	r, err := kv.DecodeTxn(b)
	if err != nil {
		return kv.TxnResult{}, err
	}
	return r, r.Error()
}

// List returns a page of the keys that start with r.Prefix, in byte order,
// linearizably (see kv.ListRequest for paging and bounds).
func (n *Node) List(ctx context.Context, r kv.ListRequest) (kv.ListResult, error) {
	return n.list(ctx, r, n.Read)
}

// StaleList is List from this replica's copy, without asking the leader.
func (n *Node) StaleList(ctx context.Context, r kv.ListRequest) (kv.ListResult, error) {
	return n.list(ctx, r, n.StaleRead)
}

func (n *Node) list(ctx context.Context, r kv.ListRequest, read func(context.Context, []byte) ([]byte, error)) (kv.ListResult, error) {
	q, err := r.Encode()
	if err != nil {
		return kv.ListResult{}, err
	}
	b, err := read(ctx, q)
	if err != nil {
		return kv.ListResult{}, err
	}
	return kv.DecodeList(b)
}
