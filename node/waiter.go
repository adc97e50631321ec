package node

import (
	"github.com/asynkron/protoactor-go/actor"
)

// waiter is a process in the replica's registry that a caller blocks on. The
// executor (or a proposer that turns a request away) sends it the answer by
// name, so answers need no future and no per-request actor.
type waiter struct {
	ch  chan any
	pid *actor.PID
	sys *actor.ActorSystem
}

func (w *waiter) SendUserMessage(_ *actor.PID, m any) {
	if env, ok := m.(*actor.MessageEnvelope); ok {
		m = env.Message
	}
	select {
	case w.ch <- m:
	default: // the caller takes one answer per request; extras are duplicates
	}
}

func (w *waiter) SendSystemMessage(*actor.PID, any) {}
func (w *waiter) Stop(*actor.PID)                   {}

func newWaiter(sys *actor.ActorSystem) *waiter {
	w := &waiter{ch: make(chan any, 16), sys: sys}
	w.pid, _ = sys.ProcessRegistry.Add(w, "w"+sys.ProcessRegistry.NextId())
	return w
}

func (w *waiter) close() { w.sys.ProcessRegistry.Remove(w.pid) }
