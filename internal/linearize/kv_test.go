package linearize

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func op(client int, in Input, call int64, out Output, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

// TestModel shows the model accepts what the store may do and rejects what
// it may not: a stale read, a lost write's IfRev, a rev going backwards.
func TestModel(t *testing.T) {
	base := []porcupine.Operation{
		op(0, Input{Kind: Put, Key: "x", Value: "a"}, 0, Output{Rev: 1, OK: true}, 10),
		op(0, Input{Kind: Put, Key: "x", Value: "b"}, 20, Output{Rev: 2, OK: true}, 30),
	}
	with := func(ops ...porcupine.Operation) []porcupine.Operation {
		return append(append([]porcupine.Operation(nil), base...), ops...)
	}
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"stale read", with(op(1, Input{Kind: Get, Key: "x"}, 40, Output{Found: true, Value: "a", Rev: 1}, 50)), porcupine.Illegal},
		{"fresh read", with(op(1, Input{Kind: Get, Key: "x"}, 40, Output{Found: true, Value: "b", Rev: 2}, 50)), porcupine.Ok},
		{"concurrent read", with(op(1, Input{Kind: Get, Key: "x"}, 25, Output{Found: true, Value: "a", Rev: 1}, 50)), porcupine.Ok},
		{"unknown write seen", with(
			op(2, Input{Kind: Put, Key: "x", Value: "c"}, 35, Output{Unknown: true}, math.MaxInt64),
			op(1, Input{Kind: Get, Key: "x"}, 40, Output{Found: true, Value: "c", Rev: 7}, 50),
			op(1, Input{Kind: Put, Key: "x", Value: "d", Cond: CondRev, Rev: 7}, 60, Output{Rev: 8, OK: true}, 70)), porcupine.Ok},
		{"unknown write not seen", with(
			op(2, Input{Kind: Put, Key: "x", Value: "c"}, 35, Output{Unknown: true}, math.MaxInt64),
			op(1, Input{Kind: Get, Key: "x"}, 40, Output{Found: true, Value: "b", Rev: 2}, 50)), porcupine.Ok},
		{"IfRev on overwritten rev", with(op(1, Input{Kind: Put, Key: "x", Value: "d", Cond: CondRev, Rev: 1}, 40, Output{Rev: 3, OK: true}, 50)), porcupine.Illegal},
		{"rev goes back", with(op(1, Input{Kind: Delete, Key: "x"}, 40, Output{Rev: 2, OK: true, Deleted: true}, 50)), porcupine.Illegal},
		{"delete then absent", with(
			op(1, Input{Kind: Delete, Key: "x"}, 40, Output{Rev: 3, OK: true, Deleted: true}, 50),
			op(1, Input{Kind: Get, Key: "x"}, 60, Output{}, 70),
			op(1, Input{Kind: Put, Key: "x", Value: "e", Cond: CondAbsent}, 80, Output{Rev: 4, OK: true}, 90)), porcupine.Ok},
		{"failed condition without its rev", with(
			op(1, Input{Kind: Put, Key: "x", Value: "e", Cond: CondAbsent}, 40, Output{}, 50),
			op(1, Input{Kind: Put, Key: "x", Value: "f", Cond: CondRev, Rev: 2}, 60, Output{Rev: 4, OK: true}, 70)), porcupine.Ok},
		{"failed condition without its rev that must hold", with(
			op(1, Input{Kind: Put, Key: "x", Value: "e", Cond: CondExists}, 40, Output{}, 50)), porcupine.Illegal},
		{"lost acked write", with(
			op(1, Input{Kind: Put, Key: "x", Value: "e", Cond: CondExists}, 40, Output{Rev: 3, OK: true}, 50),
			op(1, Input{Kind: Get, Key: "x"}, 60, Output{Found: true, Value: "b", Rev: 2}, 70)), porcupine.Illegal},
	}
	for _, tt := range tests {
		if got := porcupine.CheckOperationsTimeout(Model, tt.history, 10*time.Second); got != tt.want {
			t.Errorf("%s: checker says %s, want %s", tt.name, got, tt.want)
		}
	}
}
