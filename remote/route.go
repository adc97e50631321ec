package remote

import (
	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/msg"
)

// Send delivers a core's output: it turns each Target into a PID from the
// book and sends the message without a sender (replies name their target
// explicitly, since remoting drops envelopes' senders for our messages).
func (b *Book) Send(ctx actor.SenderContext, outs []msg.Out) {
	for _, o := range outs {
		var pid *actor.PID
		if o.To.Role == msg.RoleWaiter {
			pid = b.WaiterPID(o.To.Node, o.To.Ref)
		} else {
			pid = b.PID(o.To.Node, o.To.Role)
		}
		if pid != nil {
			ctx.Send(pid, o.Msg)
		}
	}
}
