package learner

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// BenchmarkQuorum is the learner's hot path: the own acceptor's vote with
// the value, a peer's vote that makes the quorum, and the delivery.
func BenchmarkQuorum(b *testing.B) {
	m := storage.NewMemory()
	c, err := New(testConfig(), m.Chosen(), m.Snapshots())
	if err != nil {
		b.Fatal(err)
	}
	v := val("x")
	bal := msg.Ballot{Round: 1, ID: 2}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := uint64(i + 1)
		step(b, c, &msg.Accepted{From: self, Ballot: bal, Slots: []uint64{s}, Values: []*msg.Value{v}})
		step(b, c, &msg.Accepted{From: 2, Ballot: bal, Slots: []uint64{s}})
	}
}
