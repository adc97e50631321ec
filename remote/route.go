package remote

import (
	"fmt"

	"github.com/asynkron/protoactor-go/actor"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rsml-go/rsml/msg"
)

// Send delivers a core's output: it turns each Target into a PID from the
// book and sends the message without a sender (replies name their target
// explicitly, since remoting drops envelopes' senders for our messages).
//
// A message for a waiter goes to WithLocalWaiters' function if the waiter is
// this replica's, else to its replica's waiters process in a WaiterEnvelope.
//
// With WithWire, a message for another replica is sent as Encode made it; one
// that cannot be encoded is reported to the wire's onError and dropped.
func (b *Book) Send(ctx actor.SenderContext, outs []msg.Out) {
	// A broadcast lists one message for several replicas: encode it once. The
	// Any is only read afterwards (protobuf marshals it per peer), so sharing
	// it is safe. lastMsg only ever holds a wire type's pointer, so comparing
	// it with any o.Msg cannot panic.
	var lastMsg any
	var lastAny *anypb.Any
	for _, o := range outs {
		var pid *actor.PID
		waiter := o.To.Role == msg.RoleWaiter
		if waiter {
			if o.To.Ref == "" {
				continue
			}
			if o.To.Node == b.self && b.localWaiters != nil {
				b.localWaiters(o.To.Ref, o.Msg)
				continue
			}
			pid = b.WaitersPID(o.To.Node)
		} else {
			pid = b.PID(o.To.Node, o.To.Role)
		}
		if pid == nil {
			if b.onUnknown != nil && o.To.Node != 0 {
				b.onUnknown(o.To.Node)
			}
			continue
		}
		m := o.Msg
		if b.wire != nil && o.To.Node != b.self {
			if lastAny == nil || m != lastMsg {
				a, err := b.wire.encode(m)
				if err != nil {
					if b.onWireErr != nil {
						b.onWireErr(fmt.Errorf("remote: send to replica %d %v: %w", o.To.Node, o.To.Role, err))
					}
					continue
				}
				lastMsg, lastAny = m, a
			}
			m = lastAny
		}
		if waiter {
			m = WaiterEnvelope(o.To.Ref, m)
		}
		ctx.Send(pid, m)
	}
}

// Wrap returns m as it must be sent to replica to: the *anypb.Any of Encode
// if the Book has a wire (WithWire) and to is another replica, else m itself.
// Use it for the sends that do not go through Send.
func (b *Book) Wrap(to msg.NodeID, m any) (any, error) {
	if b.wire == nil || to == b.self {
		return m, nil
	}
	a, err := b.wire.encode(m)
	if err != nil {
		return nil, err
	}
	return a, nil
}
