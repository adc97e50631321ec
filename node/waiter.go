package node

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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

// waiters is the table of one incarnation's waiters. Opening and closing a
// waiter is a map insert and delete under one of 16 locks, and an answer from
// this replica (its executor, or its proposer turning a request away) reaches
// the waiter by a plain call (the Book's WithLocalWaiters). Answers from
// peers, to requests forwarded to the leader, come through the replica's one
// waiters process (remote.NewWaiters), which calls the same deliver.
//
// Names are "w" + incarnation + key, with keys never reused, and the
// incarnation unique per Start: an answer meant for a request of a previous
// incarnation (a late read index, the result of a command chosen while the
// replica was down), or for a request that gave up, finds no waiter and is
// dropped (and counted: dropped); it can never reach another request.
type waiters struct {
	prefix string
	// dropped hears each answer that reached no waiter, by reason
	// (dropLateAnswer, dropExtraAnswer). Both are routine: a caller that
	// gave up, a retry answered twice.
	dropped func(reason string)
	next    atomic.Uint64
	shards  [waiterShards]struct {
		mu sync.Mutex
		m  map[uint64]*waiter
	}
	pool sync.Pool
}

// The reasons waiters give dropped.
const (
	// dropLateAnswer: the answer names no open waiter of this incarnation.
	dropLateAnswer = "late_answer"
	// dropExtraAnswer: the waiter already holds as many answers as its
	// channel takes.
	dropExtraAnswer = "extra_answer"
)

func newWaiters(incarnation string, dropped func(reason string)) *waiters {
	t := &waiters{prefix: "w" + incarnation, dropped: dropped}
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
	var buf [64]byte // one allocation (the string), not two
	w.ref = string(strconv.AppendUint(append(buf[:0], t.prefix...), w.key, 36))
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
	stopTimer(w.timer)
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

// stopTimer stops t and drains a tick that fired before the stop. Since Go
// 1.23 Stop alone guarantees that, but only when the main module says go
// 1.23 or later and GODEBUG asynctimerchan is not set: a program embedding
// the library may have neither, and a stale tick in a reused waiter would end
// its next call at once.
func stopTimer(t *time.Timer) {
	if !t.Stop() {
		select {
		case <-t.C:
		default:
		}
	}
}

// resetTimer arms t for d, with no stale tick left behind (see stopTimer).
func resetTimer(t *time.Timer, d time.Duration) {
	stopTimer(t)
	t.Reset(d)
}

// key parses the key out of a waiter name of this incarnation.
func (t *waiters) key(ref string) (uint64, bool) {
	rest, ok := strings.CutPrefix(ref, t.prefix)
	if !ok {
		return 0, false // another incarnation's, or garbage
	}
	key, err := strconv.ParseUint(rest, 36, 64)
	return key, err == nil
}

// deliver hands m to the waiter named ref, if it is still waiting. It never
// blocks: a waiter takes one answer per attempt, and extras are duplicates.
func (t *waiters) deliver(ref string, m any) {
	key, ok := t.key(ref)
	if !ok {
		t.dropped(dropLateAnswer)
		return
	}
	reason := ""
	s := &t.shards[key%waiterShards]
	s.mu.Lock()
	if w := s.m[key]; w == nil {
		reason = dropLateAnswer
	} else {
		select {
		case w.ch <- m:
		default:
			reason = dropExtraAnswer
		}
	}
	s.mu.Unlock()
	if reason != "" {
		t.dropped(reason)
	}
}
