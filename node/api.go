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
	// ErrStopped: the replica is stopping or stopped, and the request was
	// certainly not proposed. A write that may have been proposed before the
	// stop gets ErrIndeterminate instead, never an error matching both.
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
	// ErrWitness: this replica is a witness (Config.Witness): it votes but
	// holds no state, so it neither serves reads nor takes writes; ask
	// another replica. Nothing was proposed.
	ErrWitness = errors.New("rsml: a witness holds no data; ask another replica")
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

// Read answers query linearizably: it reflects every command acknowledged
// before Read was called. The leader confirms with a quorum that it still
// leads, and this replica answers once it has applied past that point, so no
// read is written to the log.
func (n *Node) Read(ctx context.Context, query []byte) ([]byte, error) {
	if n.cfg.Witness {
		return nil, ErrWitness
	}
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
	if n.cfg.Witness {
		return nil, ErrWitness
	}
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
