package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func applyTxn(t testing.TB, s *Store, rev uint64, tx Txn) TxnResult {
	t.Helper()
	cmd, err := tx.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	r, err := DecodeTxn(s.Apply(rev, cmd))
	if err != nil {
		t.Fatalf("Apply(%d) txn result: %v", rev, err)
	}
	return r
}

func readTxn(t testing.TB, s *Store, tx Txn) TxnResult {
	t.Helper()
	q, err := tx.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	b, err := s.Read(q)
	if err != nil {
		t.Fatalf("Read txn: %v", err)
	}
	r, err := DecodeTxn(b)
	if err != nil {
		t.Fatalf("Read txn result: %v", err)
	}
	return r
}

func list(t testing.TB, s *Store, r ListRequest) ListResult {
	t.Helper()
	q, err := r.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	b, err := s.Read(q)
	if err != nil {
		t.Fatalf("Read list: %v", err)
	}
	res, err := DecodeList(b)
	if err != nil {
		t.Fatalf("list result: %v", err)
	}
	return res
}

func TestTxnAtomicAtOneRev(t *testing.T) {
	s := New()
	apply(t, s, 1, Put("a", []byte("1")))
	apply(t, s, 2, Put("b", []byte("2")))

	r := applyTxn(t, s, 3, Txn{
		If:   []Compare{{"a", IfRev(1)}, {"b", IfExists()}, {"c", IfAbsent()}},
		Then: []Op{PutOp("a", []byte("10")), DeleteOp("b"), PutOp("c", nil), GetOp("a"), GetOp("b"), DeleteOp("zz")},
		Else: []Op{PutOp("else", []byte("x"))},
	})
	want := TxnResult{Rev: 3, Succeeded: true, Results: []OpResult{
		{Kind: OpPut, Rev: 3},
		{Kind: OpDelete, Rev: 3, Deleted: true},
		{Kind: OpPut, Rev: 3},
		{Kind: OpGet, Found: true, Rev: 3, Value: []byte("10")}, // sees the put before it
		{Kind: OpGet},                                           // sees the delete before it
		{Kind: OpDelete, Rev: 3},                                // absent: not deleted
	}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("result\n got %+v\nwant %+v", r, want)
	}
	if g := read(t, s, "a"); !equalGet(g, found("10", 3)) {
		t.Errorf("a = %+v", g)
	}
	if g := read(t, s, "c"); !equalGet(g, found("", 3)) {
		t.Errorf("c = %+v (a nil put value is stored as empty)", g)
	}
	if g := read(t, s, "b"); g.Found {
		t.Errorf("b still there: %+v", g)
	}
	if g := read(t, s, "else"); g.Found {
		t.Error("the else branch ran too")
	}
	if s.Rev() != 3 {
		t.Errorf("store rev %d, want 3", s.Rev())
	}
}

func TestTxnElseBranch(t *testing.T) {
	for _, cond := range []Compare{{"a", IfRev(2)}, {"a", IfAbsent()}, {"missing", IfExists()}, {"missing", IfRev(1)}} {
		t.Run(cond.Cond.String(), func(t *testing.T) {
			s := New()
			apply(t, s, 1, Put("a", []byte("1")))
			before := content(s)
			r := applyTxn(t, s, 2, Txn{
				If:   []Compare{{"a", IfExists()}, cond},
				Then: []Op{PutOp("a", []byte("then"))},
			})
			if r.Succeeded || r.Rev != 2 || len(r.Results) != 0 || r.Err != "" {
				t.Fatalf("result %+v: want the empty else branch at rev 2", r)
			}
			if content(s) != before || s.Rev() != 2 {
				t.Fatal("a failed transaction changed a key, or did not take its rev")
			}
			r = applyTxn(t, s, 3, Txn{If: []Compare{cond}, Then: []Op{PutOp("a", []byte("then"))},
				Else: []Op{PutOp("a", []byte("else")), GetOp("a")}})
			if r.Succeeded || len(r.Results) != 2 || string(r.Results[1].Value) != "else" || r.Results[1].Rev != 3 {
				t.Fatalf("else result %+v", r)
			}
		})
	}
}

func TestReadOnlyTxn(t *testing.T) {
	s := New()
	apply(t, s, 1, Put("a", []byte("1")))
	apply(t, s, 2, Delete("nothing")) // the last rev is 2, no key has it
	tx := Txn{If: []Compare{{"a", IfRev(1)}}, Then: []Op{GetOp("a"), GetOp("b")}, Else: []Op{GetOp("b")}}
	if !tx.ReadOnly() {
		t.Fatal("gets only: read-only")
	}
	before := s.Digest()
	r := readTxn(t, s, tx)
	want := TxnResult{Rev: 2, Succeeded: true, Results: []OpResult{{Kind: OpGet, Found: true, Rev: 1, Value: []byte("1")}, {Kind: OpGet}}}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("got %+v, want %+v", r, want)
	}
	if s.Digest() != before {
		t.Fatal("a read changed the store")
	}
	w := Txn{Else: []Op{DeleteOp("a")}}
	if w.ReadOnly() {
		t.Fatal("a delete in else: not read-only")
	}
	q, _ := w.Encode()
	if _, err := s.Read(q); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("Read of a writing txn: %v, want ErrBadCommand", err)
	}
	lq, _ := ListRequest{Limit: 1}.Encode()
	if res := apply(t, s, 3, lq); res.Err == "" || res.OK {
		t.Fatalf("a list through the log: %+v, want refused", res)
	}
}

func TestParseTxn(t *testing.T) {
	tx := Txn{If: []Compare{{"a", IfRev(3)}, {"b", IfAbsent()}}, Then: []Op{PutOp("a", []byte("v")), GetOp("b")}, Else: []Op{DeleteOp("a")}}
	b, err := tx.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseTxn(b)
	if err != nil || !reflect.DeepEqual(got, tx) {
		t.Fatalf("ParseTxn: %+v, %v; want %+v", got, err, tx)
	}
	for _, cmd := range [][]byte{Put("a", nil), nil, b[:len(b)-1]} {
		if _, err := ParseTxn(cmd); !errors.Is(err, ErrBadCommand) {
			t.Errorf("ParseTxn(%x): %v, want ErrBadCommand", cmd, err)
		}
	}
}

func TestTxnValidate(t *testing.T) {
	many := make([]Op, MaxTxnOps+1)
	for i := range many {
		many[i] = GetOp("k")
	}
	manyConds := make([]Compare, MaxTxnCompares+1)
	for i := range manyConds {
		manyConds[i] = Compare{"k", IfExists()}
	}
	for name, tx := range map[string]Txn{
		"too many then":        {Then: many},
		"too many else":        {Else: many},
		"too many conditions":  {If: manyConds},
		"empty compare key":    {If: []Compare{{"", IfExists()}}},
		"compare without cond": {If: []Compare{{"k", Cond{}}}},
		"empty op key":         {Then: []Op{PutOp("", nil)}},
		"unknown op":           {Then: []Op{{Kind: 9, Key: "k"}}},
		"get with a value":     {Else: []Op{{Kind: OpGet, Key: "k", Value: []byte("v")}}},
	} {
		if _, err := tx.Encode(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: Encode err %v, want ErrBadCommand", name, err)
		}
	}
	if _, err := (Txn{Then: many[:MaxTxnOps], Else: many[:MaxTxnOps], If: manyConds[:MaxTxnCompares]}).Encode(); err != nil {
		t.Errorf("at the limits: %v", err)
	}
	if _, err := (Txn{}).Encode(); err != nil {
		t.Errorf("the empty txn is valid (a read of the store's rev): %v", err)
	}
}

// craftTxn writes a transaction's command field by field, so that tests can
// make shapes the builder refuses.
func craftTxn(t *testing.T, fn func(e *encoder)) []byte {
	t.Helper()
	return build(64, func(e *encoder) {
		e.arrayLen(4)
		e.uint(uint64(opTxn))
		fn(e)
	})
}

func TestTxnDecodeStrict(t *testing.T) {
	none := func(e *encoder) { e.arrayLen(0) }
	bad := map[string][]byte{
		"cond one field": craftTxn(t, func(e *encoder) { e.arrayLen(1); e.arrayLen(1); e.str("k"); none(e); none(e) }),
		"cond bad kind": craftTxn(t, func(e *encoder) {
			e.arrayLen(1)
			e.arrayLen(2)
			e.str("k")
			e.uint(7)
			none(e)
			none(e)
		}),
		"cond rev no value": craftTxn(t, func(e *encoder) {
			e.arrayLen(1)
			e.arrayLen(2)
			e.str("k")
			e.uint(uint64(condRev))
			none(e)
			none(e)
		}),
		"cond empty key": craftTxn(t, func(e *encoder) {
			e.arrayLen(1)
			e.arrayLen(2)
			e.str("")
			e.uint(uint64(condAbsent))
			none(e)
			none(e)
		}),
		"put without value": craftTxn(t, func(e *encoder) {
			none(e)
			e.arrayLen(1)
			e.arrayLen(2)
			e.uint(uint64(OpPut))
			e.str("k")
			none(e)
		}),
		"get with value": craftTxn(t, func(e *encoder) {
			none(e)
			none(e)
			e.arrayLen(1)
			e.arrayLen(3)
			e.uint(uint64(OpGet))
			e.str("k")
			e.bin([]byte("v"))
		}),
		"op kind 4": craftTxn(t, func(e *encoder) {
			none(e)
			e.arrayLen(1)
			e.arrayLen(2)
			e.uint(4)
			e.str("k")
			none(e)
		}),
		"op empty key": craftTxn(t, func(e *encoder) {
			none(e)
			e.arrayLen(1)
			e.arrayLen(2)
			e.uint(uint64(OpDelete))
			e.str("")
			none(e)
		}),
		"too many ops":    craftTxn(t, func(e *encoder) { none(e); e.arrayLen(MaxTxnOps + 1); none(e) }),
		"huge cond count": craftTxn(t, func(e *encoder) { e.arrayLen(1 << 30) }),
		"nil branch":      craftTxn(t, func(e *encoder) { none(e); e.e.EncodeNil(); none(e) }),
		"three fields":    build(8, func(e *encoder) { e.arrayLen(3); e.uint(uint64(opTxn)); none(e); none(e) }),
	}
	good := craftTxn(t, func(e *encoder) { none(e); none(e); none(e) })
	if _, err := slowDecodeCommand(good); err != nil {
		t.Fatalf("the crafted empty txn does not decode: %v", err)
	}
	for name, cmd := range bad {
		s := New()
		apply(t, s, 1, Put("k", []byte("v")))
		before := content(s)
		r, err := DecodeTxn(s.Apply(2, cmd))
		if err != nil {
			t.Errorf("%s: the refusal is not a txn result: %v", name, err)
			continue
		}
		if r.Err == "" || r.Succeeded || len(r.Results) != 0 || r.Rev != 2 {
			t.Errorf("%s: result %+v, want a refusal at rev 2", name, r)
		}
		if !errors.Is(r.Error(), ErrBadCommand) {
			t.Errorf("%s: Error() = %v", name, r.Error())
		}
		if content(s) != before {
			t.Errorf("%s: a refused txn changed the state", name)
		}
		if _, err := s.Read(cmd); !errors.Is(err, ErrBadCommand) {
			t.Errorf("%s: Read err %v", name, err)
		}
	}
}

func TestTxnResultRoundTrip(t *testing.T) {
	for _, r := range []TxnResult{
		{},
		{Rev: 1 << 40, Succeeded: true, Results: []OpResult{{Kind: OpPut, Rev: 7}, {Kind: OpDelete, Rev: 7, Deleted: true},
			{Kind: OpDelete, Rev: 7}, {Kind: OpGet}, {Kind: OpGet, Found: true, Rev: 3, Value: []byte{}},
			{Kind: OpGet, Found: true, Rev: 3, Value: []byte("v")}}},
		{Rev: 9, Err: "refused"},
	} {
		got, err := DecodeTxn(encodeTxn(r))
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("round trip of %+v: %+v, %v", r, got, err)
		}
	}
	for _, b := range [][]byte{nil, {0x90}, {0x93, 0x01, 0x02, 0x90}, {0x93, 0x01, 0x00, 0x91, 0x91, 0x09}, encodeWrite(WriteResult{Rev: 1})} {
		if _, err := DecodeTxn(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeTxn(%x): %v, want ErrMalformed", b, err)
		}
	}
}

func TestList(t *testing.T) {
	s := New()
	keys := []string{"a", "a/1", "a/2", "a/3", "a0", "b", "b/\xff", "b/\x00"}
	for i, k := range keys {
		apply(t, s, uint64(i+1), Put(k, []byte("v"+k)))
	}
	apply(t, s, 20, Delete("a/2"))
	names := func(r ListResult) string {
		var out []string
		for _, it := range r.Items {
			out = append(out, it.Key)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range []struct {
		req  ListRequest
		want string
		more bool
	}{
		{ListRequest{Prefix: "a/", Limit: 10}, "a/1,a/3", false},
		{ListRequest{Prefix: "a", Limit: 10}, "a,a/1,a/3,a0", false},
		{ListRequest{Prefix: "a", Limit: 2}, "a,a/1", true},
		{ListRequest{Prefix: "a", StartAfter: "a/1", Limit: 2}, "a/3,a0", false},
		{ListRequest{Prefix: "a", StartAfter: "a/3", Limit: 1}, "a0", false},
		{ListRequest{Prefix: "a", StartAfter: "a0", Limit: 1}, "", false},
		{ListRequest{Prefix: "a", StartAfter: "0", Limit: 1}, "a", true},   // start before the prefix
		{ListRequest{Prefix: "a", StartAfter: "zz", Limit: 10}, "", false}, // start past it
		{ListRequest{Limit: 100}, "a,a/1,a/3,a0,b,b/\x00,b/\xff", false},
		{ListRequest{Prefix: "b/", Limit: 100}, "b/\x00,b/\xff", false},
		{ListRequest{Prefix: "c", Limit: 100}, "", false},
		{ListRequest{Prefix: "a/3", Limit: 1}, "a/3", false},
	} {
		r := list(t, s, tc.req)
		if got := names(r); got != tc.want || r.More != tc.more || r.Rev != 20 {
			t.Errorf("%+v: %q more=%v rev=%d, want %q more=%v rev 20", tc.req, got, r.More, r.Rev, tc.want, tc.more)
		}
		for _, it := range r.Items {
			if string(it.Value) != "v"+it.Key || it.Rev == 0 {
				t.Errorf("%+v: item %+v", tc.req, it)
			}
		}
	}
	for _, limit := range []int{0, -1, MaxListLimit + 1} {
		if _, err := (ListRequest{Limit: limit}).Encode(); !errors.Is(err, ErrBadCommand) {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
	bad := build(16, func(e *encoder) { e.arrayLen(4); e.uint(uint64(opList)); e.str(""); e.str(""); e.uint(0) })
	if _, err := s.Read(bad); !errors.Is(err, ErrBadCommand) {
		t.Errorf("limit 0 on the wire: %v", err)
	}
	if got := s.List(ListRequest{Prefix: "a/", Limit: 5}); len(got.Items) != 2 {
		t.Errorf("Store.List: %+v", got)
	} else {
		got.Items[0].Value[0] = 'X' // a copy: the store keeps its value
		if g := read(t, s, "a/1"); string(g.Value) != "va/1" {
			t.Error("Store.List handed out the stored value")
		}
	}
}

func TestListByteBound(t *testing.T) {
	s := New()
	big := bytes.Repeat([]byte("x"), MaxListBytes/3)
	for i := range 5 {
		apply(t, s, uint64(i+1), Put(fmt.Sprintf("k%d", i), big))
	}
	apply(t, s, 6, Put("k5", bytes.Repeat([]byte("y"), MaxListBytes+1)))
	r := list(t, s, ListRequest{Limit: 100})
	if len(r.Items) != 2 || !r.More {
		t.Fatalf("%d items, more=%v: want 2 items of a third of the bound and more", len(r.Items), r.More)
	}
	r = list(t, s, ListRequest{StartAfter: "k4", Limit: 100})
	if len(r.Items) != 1 || r.More || r.Items[0].Key != "k5" {
		t.Fatalf("a key larger than the bound comes alone: %d items, more=%v", len(r.Items), r.More)
	}
}

func TestSnapshotKeepsRevAndOrder(t *testing.T) {
	src := New()
	for i := range 300 {
		apply(t, src, uint64(i+1), Put(fmt.Sprintf("k%03d", (i*7)%300), []byte{byte(i)}))
	}
	apply(t, src, 301, Delete("k100"))
	apply(t, src, 302, Delete("absent"))
	dst := New()
	if err := dst.Restore(bytes.NewReader(snapshot(t, src))); err != nil {
		t.Fatal(err)
	}
	if dst.Rev() != 302 || dst.Digest() != src.Digest() {
		t.Fatalf("restored rev %d digest %x, want 302 %x", dst.Rev(), dst.Digest(), src.Digest())
	}
	a, b := list(t, src, ListRequest{Prefix: "k1", Limit: 1000}), list(t, dst, ListRequest{Prefix: "k1", Limit: 1000})
	if !reflect.DeepEqual(a, b) || len(a.Items) != 99 {
		t.Fatalf("listings differ after restore (%d and %d items)", len(a.Items), len(b.Items))
	}
	// A version 1 snapshot (no rev): the last rev is the highest key rev.
	items, _ := src.sorted()
	old := New()
	if err := old.Restore(bytes.NewReader(craftSnapshot(t, snapMagic, 1, items, func(c uint64) uint64 { return c }))); err != nil {
		t.Fatal(err)
	}
	if old.Rev() != 300 || content(old) != content(src) {
		t.Fatalf("version 1: rev %d, want 300; same keys %v", old.Rev(), content(old) == content(src))
	}
}

// refStore is the specification of the store in a few lines: a map, and a
// sort for listings.
type refStore struct {
	m   map[string]entry
	rev uint64
}

func (r *refStore) holds(cs []Compare) bool {
	for _, c := range cs {
		e, ok := r.m[c.Key]
		if !c.Cond.holds(e, ok) {
			return false
		}
	}
	return true
}

func (r *refStore) get(k string) OpResult {
	e, ok := r.m[k]
	if !ok {
		return OpResult{Kind: OpGet}
	}
	return OpResult{Kind: OpGet, Found: true, Rev: e.rev, Value: e.value}
}

func (r *refStore) txn(rev uint64, t Txn) TxnResult {
	if rev == 0 {
		res := TxnResult{Rev: r.rev, Succeeded: r.holds(t.If)}
		ops := t.Else
		if res.Succeeded {
			ops = t.Then
		}
		for _, o := range ops {
			res.Results = append(res.Results, r.get(o.Key))
		}
		return res
	}
	r.rev = rev
	res := TxnResult{Rev: rev, Succeeded: r.holds(t.If)}
	ops := t.Else
	if res.Succeeded {
		ops = t.Then
	}
	for _, o := range ops {
		switch o.Kind {
		case OpPut:
			v := o.Value
			if v == nil {
				v = []byte{}
			}
			r.m[o.Key] = entry{rev: rev, value: v}
			res.Results = append(res.Results, OpResult{Kind: OpPut, Rev: rev})
		case OpDelete:
			_, ok := r.m[o.Key]
			delete(r.m, o.Key)
			res.Results = append(res.Results, OpResult{Kind: OpDelete, Rev: rev, Deleted: ok})
		case OpGet:
			res.Results = append(res.Results, r.get(o.Key))
		}
	}
	return res
}

func (r *refStore) list(q ListRequest) ListResult {
	var keys []string
	for k := range r.m {
		if strings.HasPrefix(k, q.Prefix) && k > q.StartAfter {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	res := ListResult{Rev: r.rev}
	if len(keys) > q.Limit {
		keys, res.More = keys[:q.Limit], true
	}
	for _, k := range keys {
		res.Items = append(res.Items, Item{Key: k, Value: r.m[k].value, Rev: r.m[k].rev})
	}
	return res
}

// TestStoreAgainstReference runs random puts, deletes, transactions and
// listings against the store and the reference, restoring the store from its
// own snapshot now and then, and requires the same answers throughout.
func TestStoreAgainstReference(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		s, ref := New(), &refStore{m: map[string]entry{}}
		key := func() string { return fmt.Sprintf("k/%d", rng.IntN(12)) }
		cond := func(k string) Cond {
			switch rng.IntN(4) {
			case 0:
				return IfExists()
			case 1:
				return IfAbsent()
			}
			if e, ok := ref.m[k]; ok && rng.IntN(2) == 0 {
				return IfRev(e.rev)
			}
			return IfRev(uint64(rng.IntN(int(ref.rev + 2))))
		}
		ops := func(n int) []Op {
			var out []Op
			for range rng.IntN(n) {
				k := key()
				switch rng.IntN(3) {
				case 0:
					out = append(out, PutOp(k, []byte(fmt.Sprint(rng.IntN(100)))))
				case 1:
					out = append(out, DeleteOp(k))
				default:
					out = append(out, GetOp(k))
				}
			}
			return out
		}
		for rev := uint64(1); rev <= 400; rev++ {
			var tx Txn
			for range rng.IntN(3) {
				k := key()
				tx.If = append(tx.If, Compare{k, cond(k)})
			}
			tx.Then, tx.Else = ops(5), ops(3)
			if tx.ReadOnly() {
				if got, want := readTxn(t, s, tx), ref.txn(0, tx); !reflect.DeepEqual(got, want) {
					t.Fatalf("seed %d: read txn %+v\n got %+v\nwant %+v", seed, tx, got, want)
				}
			} else if got, want := applyTxn(t, s, rev, tx), ref.txn(rev, tx); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d rev %d: txn %+v\n got %+v\nwant %+v", seed, rev, tx, got, want)
			}
			q := ListRequest{Prefix: []string{"", "k", "k/1", "x"}[rng.IntN(4)], Limit: 1 + rng.IntN(6)}
			if rng.IntN(2) == 0 {
				q.StartAfter = key()
			}
			if got, want := list(t, s, q), ref.list(q); !reflect.DeepEqual(got, want) {
				t.Fatalf("seed %d rev %d: list %+v\n got %+v\nwant %+v", seed, rev, q, got, want)
			}
			if rng.IntN(50) == 0 {
				restored := New()
				if err := restored.Restore(bytes.NewReader(snapshot(t, s))); err != nil {
					t.Fatal(err)
				}
				s = restored
			}
		}
	}
}
