package executor

import (
	"fmt"
	"testing"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// BenchmarkApply is the executor's hot path: one delivered slot of 16 tagged
// KV puts, each answered to its waiter (per-op figures are per slot).
func BenchmarkApply(b *testing.B) {
	c, _ := newCore(b, Config{}, storage.NewMemory().Snapshots())
	cmds := make([][]byte, 16)
	for i := range cmds {
		cmds[i] = kv.Put(fmt.Sprintf("key-%d", i), make([]byte, 128))
	}
	b.ReportAllocs()
	seq := uint64(0)
	for i := 0; b.Loop(); i++ {
		v := &msg.Value{Cmds: make([]msg.Command, 16)}
		for j := range v.Cmds {
			seq++
			v.Cmds[j] = msg.Command{Client: 9, Seq: seq, Acked: seq - 1, Origin: self, Reply: "w", Data: cmds[j]}
		}
		step(b, c, &msg.Deliver{First: uint64(i + 1), Values: []*msg.Value{v}})
	}
}
