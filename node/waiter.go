package node

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/remote"
)

// waiter is what a caller of Propose or Read blocks on. The executor (or a
// proposer that turns a request away) addresses the answer by the waiter's
// name, ref, so answers need no future and no per-request actor.
type waiter struct {
	ch    chan any
	timer *time.Timer // the caller's retry timer, kept with the waiter for reuse
	key   uint64
	ref   string
}

// waiterShards spreads the waiters of concurrent callers over locks.
const waiterShards = 16

// waiters is the table of one incarnation's waiters. It replaces a process
// per request in the actor registry: opening and closing a waiter here is a
// map insert and delete under one of 16 locks, and an answer from this
// replica's executor reaches its waiter by a plain call (the Book's
// WithLocalWaiters). Answers from peers come through one process registered as
// remote.WaitersName (waitersProcess).
//
// Names are "w" + incarnation + key, with keys never reused, and the
// incarnation unique per Start: an answer meant for a request of a previous
// incarnation (a late read index, the result of a command chosen while the
// replica was down), or for a request that gave up, finds no waiter and is
// dropped; it can never reach another request.
type waiters struct {
	prefix string
	next   atomic.Uint64
	shards [waiterShards]struct {
		mu sync.Mutex
		m  map[uint64]*waiter
	}
	pool sync.Pool
}

func newWaiters(incarnation string) *waiters {
	t := &waiters{prefix: "w" + incarnation}
	for i := range t.shards {
		t.shards[i].m = make(map[uint64]*waiter)
	}
	return t
}

// open registers a new waiter. Its timer is stopped; the caller resets it.
func (t *waiters) open() *waiter {
	w, _ := t.pool.Get().(*waiter)
	if w == nil {
		w = &waiter{ch: make(chan any, 16), timer: time.NewTimer(time.Hour)}
		w.timer.Stop()
	}
	w.key = t.next.Add(1)
	w.ref = t.prefix + strconv.FormatUint(w.key, 36)
	s := &t.shards[w.key%waiterShards]
	s.mu.Lock()
	s.m[w.key] = w
	s.mu.Unlock()
	return w
}

// close unregisters w and keeps it for a later open. Answers are sent under
// the shard's lock, so once w is out of the table none can arrive: draining
// its channel leaves it empty for the next caller.
func (t *waiters) close(w *waiter) {
	s := &t.shards[w.key%waiterShards]
	s.mu.Lock()
	delete(s.m, w.key)
	s.mu.Unlock()
	w.timer.Stop() // since Go 1.23 no stale tick can be received after Stop
	for {
		select {
		case <-w.ch:
			continue
		default:
		}
		break
	}
	w.ref = ""
	t.pool.Put(w)
}

// deliver hands m to the waiter named ref, if it is still waiting. It never
// blocks: a waiter takes one answer per attempt, and extras are duplicates.
func (t *waiters) deliver(ref string, m any) {
	rest, ok := strings.CutPrefix(ref, t.prefix)
	if !ok {
		return // another incarnation's, or garbage
	}
	key, err := strconv.ParseUint(rest, 36, 64)
	if err != nil {
		return
	}
	s := &t.shards[key%waiterShards]
	s.mu.Lock()
	if w := s.m[key]; w != nil {
		select {
		case w.ch <- m:
		default:
		}
	}
	s.mu.Unlock()
}

// waitersProcess is the process registered as remote.WaitersName: it takes
// answers from peers (over TCP they arrive encoded) and hands them to the
// waiter their Ref field names.
type waitersProcess struct {
	t       *waiters
	cluster string // set over TCP
}

func (p *waitersProcess) SendUserMessage(_ *actor.PID, m any) {
	if env, ok := m.(*actor.MessageEnvelope); ok {
		m = env.Message
	}
	if p.cluster != "" {
		var err error
		if m, err = remote.Unwrap(p.cluster, m); err != nil {
			return // not for us, or garbage: the caller's deadline covers it
		}
	}
	switch m := m.(type) {
	case *msg.Reject:
		p.t.deliver(m.Ref, m)
	case *msg.ReadIndex:
		p.t.deliver(m.Ref, m)
	}
}

func (p *waitersProcess) SendSystemMessage(*actor.PID, any) {}
func (p *waitersProcess) Stop(*actor.PID)                   {}
