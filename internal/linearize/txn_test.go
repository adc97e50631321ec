package linearize

import (
	"math"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func txn(t TxnInput) Input { return Input{Kind: Txn, Txn: &t} }

func put(k, v string) TxnOp { return TxnOp{Kind: Put, Key: k, Value: v} }
func get(k string) TxnOp    { return TxnOp{Kind: Get, Key: k} }
func del(k string) TxnOp    { return TxnOp{Kind: Delete, Key: k} }

func found(v string, rev uint64) TxnOpOutput { return TxnOpOutput{Found: true, Value: v, Rev: rev} }

// TestTxnModel shows that the model takes a transaction as one atomic step
// at one rev: a read that sees half of one, a branch whose conditions
// could not decide it, or revs out of log order are rejected.
func TestTxnModel(t *testing.T) {
	// a=1 and b=1 at rev 1, then a transfer moves 1 from a to b at rev 2.
	setup := op(0, txn(TxnInput{Then: []TxnOp{put("a", "1"), put("b", "1")}}), 0, Output{Rev: 1, Succeeded: true, Results: make([]TxnOpOutput, 2)}, 10)
	transfer := op(0, txn(TxnInput{If: []TxnCompare{{"a", CondRev, 1}, {"b", CondRev, 1}}, Then: []TxnOp{put("a", "0"), put("b", "2")}}),
		20, Output{Rev: 2, Succeeded: true, Results: []TxnOpOutput{{Rev: 2}, {Rev: 2}}}, 30)
	readAll := func(client int, call, ret int64, out Output) porcupine.Operation {
		return op(client, txn(TxnInput{Then: []TxnOp{get("a"), get("b")}}), call, out, ret)
	}
	unknownTransfer := op(1, txn(TxnInput{If: []TxnCompare{{"a", CondRev, 1}}, Then: []TxnOp{put("a", "0"), put("b", "2")}}),
		20, Output{Unknown: true}, math.MaxInt64)
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    porcupine.CheckResult
	}{
		{"read after the transfer", []porcupine.Operation{setup, transfer,
			readAll(1, 40, 50, Output{Rev: 2, Succeeded: true, Results: []TxnOpOutput{found("0", 2), found("2", 2)}})}, porcupine.Ok},
		{"read sees half the transfer", []porcupine.Operation{setup, transfer,
			readAll(1, 25, 50, Output{Rev: 2, Succeeded: true, Results: []TxnOpOutput{found("0", 2), found("1", 1)}})}, porcupine.Illegal},
		{"read before the transfer, concurrent", []porcupine.Operation{setup, transfer,
			readAll(1, 15, 25, Output{Rev: 1, Succeeded: true, Results: []TxnOpOutput{found("1", 1), found("1", 1)}})}, porcupine.Ok},
		{"read reports a rev below a write before it", []porcupine.Operation{setup, transfer,
			readAll(1, 40, 50, Output{Rev: 1, Succeeded: true, Results: []TxnOpOutput{found("0", 2), found("2", 2)}})}, porcupine.Illegal},
		{"unknown transfer seen whole", []porcupine.Operation{setup, unknownTransfer,
			readAll(2, 40, 50, Output{Rev: 5, Succeeded: true, Results: []TxnOpOutput{found("0", 5), found("2", 5)}})}, porcupine.Ok},
		{"unknown transfer not seen", []porcupine.Operation{setup, unknownTransfer,
			readAll(2, 40, 50, Output{Rev: 5, Succeeded: true, Results: []TxnOpOutput{found("1", 1), found("1", 1)}})}, porcupine.Ok},
		{"unknown transfer seen in half", []porcupine.Operation{setup, unknownTransfer,
			readAll(2, 40, 50, Output{Rev: 5, Succeeded: true, Results: []TxnOpOutput{found("0", 5), found("1", 1)}})}, porcupine.Illegal},
		{"then branch whose condition cannot hold", []porcupine.Operation{setup, transfer,
			op(1, txn(TxnInput{If: []TxnCompare{{"a", CondRev, 1}}, Then: []TxnOp{del("a")}}), 40,
				Output{Rev: 3, Succeeded: true, Results: []TxnOpOutput{{Deleted: true}}}, 50)}, porcupine.Illegal},
		{"else branch whose conditions must hold", []porcupine.Operation{setup,
			op(1, txn(TxnInput{If: []TxnCompare{{"a", CondExists, 0}, {"c", CondAbsent, 0}}, Else: []TxnOp{get("a")}}), 20,
				Output{Rev: 2, Results: []TxnOpOutput{found("1", 1)}}, 30)}, porcupine.Illegal},
		{"else branch, a condition fails", []porcupine.Operation{setup,
			op(1, txn(TxnInput{If: []TxnCompare{{"a", CondExists, 0}, {"b", CondAbsent, 0}}, Else: []TxnOp{get("a")}}), 20,
				Output{Rev: 2, Results: []TxnOpOutput{found("1", 1)}}, 30)}, porcupine.Ok},
		{"a get sees the put before it", []porcupine.Operation{setup,
			op(1, txn(TxnInput{Then: []TxnOp{put("a", "9"), get("a"), del("b"), get("b")}}), 20,
				Output{Rev: 2, Succeeded: true, Results: []TxnOpOutput{{}, found("9", 2), {Deleted: true}, {}}}, 30)}, porcupine.Ok},
		{"a get misses the put before it", []porcupine.Operation{setup,
			op(1, txn(TxnInput{Then: []TxnOp{put("a", "9"), get("a")}}), 20,
				Output{Rev: 2, Succeeded: true, Results: []TxnOpOutput{{}, found("1", 1)}}, 30)}, porcupine.Illegal},
		{"a write's rev below another key's", []porcupine.Operation{setup, transfer,
			op(1, Input{Kind: Put, Key: "c", Value: "x"}, 40, Output{Rev: 7, OK: true}, 50),
			op(1, txn(TxnInput{Then: []TxnOp{put("a", "5"), put("c", "y")}}), 60, Output{Rev: 6, Succeeded: true, Results: make([]TxnOpOutput, 2)}, 70)},
			porcupine.Illegal},
		{"too few results", []porcupine.Operation{setup,
			op(1, txn(TxnInput{Then: []TxnOp{get("a"), get("b")}}), 20, Output{Rev: 1, Succeeded: true, Results: []TxnOpOutput{found("1", 1)}}, 30)},
			porcupine.Illegal},
		{"a single write seen by a txn", []porcupine.Operation{setup,
			op(1, Input{Kind: Put, Key: "a", Value: "7"}, 20, Output{Rev: 2, OK: true}, 30),
			readAll(2, 40, 50, Output{Rev: 2, Succeeded: true, Results: []TxnOpOutput{found("7", 2), found("1", 1)}})}, porcupine.Ok},
		{"unknown txn whose else branch ran", []porcupine.Operation{setup,
			op(1, txn(TxnInput{If: []TxnCompare{{"a", CondAbsent, 0}}, Then: []TxnOp{put("c", "then")}, Else: []TxnOp{put("c", "else")}}), 20,
				Output{Unknown: true}, math.MaxInt64),
			op(2, Input{Kind: Get, Key: "c"}, 40, Output{Found: true, Value: "else", Rev: 4}, 50)}, porcupine.Ok},
		{"unknown txn whose branch could not run", []porcupine.Operation{setup,
			op(1, txn(TxnInput{If: []TxnCompare{{"a", CondAbsent, 0}}, Then: []TxnOp{put("c", "then")}, Else: []TxnOp{put("c", "else")}}), 20,
				Output{Unknown: true}, math.MaxInt64),
			op(2, Input{Kind: Get, Key: "c"}, 40, Output{Found: true, Value: "then", Rev: 4}, 50)}, porcupine.Illegal},
		{"an empty txn", []porcupine.Operation{op(1, txn(TxnInput{}), 0, Output{Rev: 0, Succeeded: true}, 10)}, porcupine.Ok},
	}
	for _, tt := range tests {
		if got := porcupine.CheckOperationsTimeout(Model, tt.history, 10*time.Second); got != tt.want {
			t.Errorf("%s: checker says %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestPartitionFollowsTransactions(t *testing.T) {
	h := []porcupine.Operation{
		op(0, Input{Kind: Put, Key: "x"}, 0, Output{}, 1),
		op(0, Input{Kind: Put, Key: "y"}, 0, Output{}, 1),
		op(0, Input{Kind: Put, Key: "z"}, 0, Output{}, 1),
		op(0, txn(TxnInput{If: []TxnCompare{{"y", CondExists, 0}}, Then: []TxnOp{put("z", "")}}), 0, Output{}, 1),
		op(0, txn(TxnInput{}), 0, Output{}, 1),
	}
	parts := partition(h)
	var sizes []int
	for _, p := range parts {
		sizes = append(sizes, len(p))
	}
	// "" (the empty txn), "x", then y and z linked by the txn.
	if len(sizes) != 3 || sizes[0] != 1 || sizes[1] != 1 || sizes[2] != 3 {
		t.Fatalf("partition sizes %v, want [1 1 3]", sizes)
	}
}
