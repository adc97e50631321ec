package node

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/remote"
)

// waiter is a process in the replica's registry that a caller blocks on. The
// executor (or a proposer that turns a request away) sends it the answer by
// name, so answers need no future and no per-request actor.
type waiter struct {
	ch      chan any
	pid     *actor.PID
	sys     *actor.ActorSystem
	cluster string // set over TCP: answers from peers arrive encoded
}

func (w *waiter) SendUserMessage(_ *actor.PID, m any) {
	if env, ok := m.(*actor.MessageEnvelope); ok {
		m = env.Message
	}
	if w.cluster != "" {
		var err error
		if m, err = remote.Unwrap(w.cluster, m); err != nil {
			return // not for us, or garbage: the caller's deadline covers it
		}
	}
	select {
	case w.ch <- m:
	default: // the caller takes one answer per request; extras are duplicates
	}
}

func (w *waiter) SendSystemMessage(*actor.PID, any) {}
func (w *waiter) Stop(*actor.PID)                   {}

// newWaiter registers a waiter under a name that no other incarnation of
// this replica ever uses: answers are addressed by name alone, and one meant
// for a request of a previous incarnation (a late read index, the result of a
// command chosen while the replica was down) must never reach a new request.
func newWaiter(sys *actor.ActorSystem, cluster, incarnation string) *waiter {
	w := &waiter{ch: make(chan any, 16), sys: sys, cluster: cluster}
	w.pid, _ = sys.ProcessRegistry.Add(w, "w"+incarnation+sys.ProcessRegistry.NextId())
	return w
}

func (w *waiter) close() { w.sys.ProcessRegistry.Remove(w.pid) }
