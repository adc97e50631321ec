package remote

import (
	"errors"

	"github.com/asynkron/protoactor-go/actor"
)

// WaitersName is the process id under which a replica takes the answers its
// peers send to its waiters (the callers blocked on a request that went to
// another replica). One process serves them all, and the waiter is named in
// the message's WaiterHeader: a process registered per request would cost a
// registry insert and delete each, and Proto.Actor's registry (32,768 small
// maps) keeps about 10 MB of buckets once ids have been spread over it.
const WaitersName = "rsml-waiters"

// WaiterHeader is the Proto.Actor envelope header that carries the ref of the
// waiter a message to WaitersName is for. Remoting carries envelope headers
// beside the message, so the message's own encoding is as for any other
// target.
const WaiterHeader = "rsml-waiter"

// ErrNoWaiter is returned by Waiters (to its onDrop) for a message that names
// no waiter: no envelope, or no WaiterHeader in it.
var ErrNoWaiter = errors.New("remote: message for the waiters names no waiter")

// DropNoWaiter is the reason DropReason gives for ErrNoWaiter.
const DropNoWaiter = "no_waiter"

// WaiterEnvelope wraps m (as it goes on the wire) for the waiter named ref, to
// be sent to the peer's WaitersPID. Book.Send does it for every message to a
// waiter of another replica; use it for the sends that do not go through Send.
func WaiterEnvelope(ref string, m any) *actor.MessageEnvelope {
	return &actor.MessageEnvelope{Header: map[string]string{WaiterHeader: ref}, Message: m}
}

// Waiters is the process a replica registers under WaitersName: not an actor
// (no mailbox, no goroutine), it hands what arrives straight to deliver with
// the waiter's ref, decoded as Unwrap does when the replica has a wire.
type Waiters struct {
	cluster string
	deliver func(ref string, m any)
	onDrop  func(reason string, err error)
}

// NewWaiters returns the waiters process of a replica. cluster is the Book's
// (Cluster: "" without a wire, where messages arrive as plain pointers).
// deliver must not block: it runs in remoting's receive loop. A message that
// names no waiter, belongs to another cluster or does not decode is dropped
// and reported to onDrop, if not nil, with DropReason(err) and the error.
func NewWaiters(cluster string, deliver func(ref string, m any), onDrop func(reason string, err error)) *Waiters {
	return &Waiters{cluster: cluster, deliver: deliver, onDrop: onDrop}
}

// SendUserMessage is where remoting (or an in-process link) delivers.
func (w *Waiters) SendUserMessage(_ *actor.PID, m any) {
	env, ok := m.(*actor.MessageEnvelope)
	var ref string
	if ok {
		ref = env.GetHeader(WaiterHeader)
	}
	if ref == "" {
		w.drop(ErrNoWaiter)
		return
	}
	m, err := Unwrap(w.cluster, env.Message)
	if err != nil {
		w.drop(err)
		return
	}
	w.deliver(ref, m)
}

func (w *Waiters) drop(err error) {
	if w.onDrop != nil {
		w.onDrop(DropReason(err), err)
	}
}

// SendSystemMessage ignores system messages: nothing watches the waiters.
func (w *Waiters) SendSystemMessage(*actor.PID, any) {}

// Stop does nothing: the replica removes the process from the registry.
func (w *Waiters) Stop(*actor.PID) {}
