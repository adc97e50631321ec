package acceptor

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// BenchmarkAccept is the acceptor's hot path: one Accept of a slot of 16
// commands, then the flush that hands out the record and the votes.
func BenchmarkAccept(b *testing.B) {
	c := New(testConfig(), storage.AcceptorState{})
	v := &msg.Value{}
	for i := 0; i < 16; i++ {
		v.Cmds = append(v.Cmds, msg.Command{Client: 1, Seq: uint64(i), Data: make([]byte, 128)})
	}
	bal := msg.Ballot{Round: 1, ID: 2}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		step(c, &msg.Accept{From: 2, Ballot: bal, Proposals: []msg.Proposal{{Slot: uint64(i + 1), Value: v}}})
		drain(c)
		if i%1024 == 1023 {
			step(c, &msg.Truncate{Through: uint64(i)}) // as snapshots would: the map stays small
			drain(c)
		}
	}
}
