package remote

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/vmihailenco/msgpack/v5"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/rsml-go/rsml/msg"
)

const testCluster = "test-cluster.1"

// wireSamples returns one message of every type that crosses replicas, every
// field set (Accepted.Values excepted, see wireWant), so a field the wire loses
// shows up as a difference.
func wireSamples() []any {
	b := msg.Ballot{Round: 1 << 40, ID: 3}
	val := &msg.Value{Cmds: []msg.Command{
		{Client: 7, Seq: 9, Acked: 8, Origin: 2, Reply: "w$12", Data: []byte("put k v")},
		{Data: []byte{0, 1, 2, 255}},
	}}
	return []any{
		&msg.Prepare{From: 3, Ballot: b, FromSlot: 1 << 33, Probe: true, Handover: msg.Ballot{Round: 1 << 39, ID: 2}},
		&msg.Promise{From: 2, Ballot: b, Probe: true, Truncated: 1 << 35, Entries: []msg.Entry{
			{Slot: 5, Ballot: msg.Ballot{Round: 4, ID: 1}, Value: val},
			{Slot: 6, Ballot: msg.Ballot{Round: 4, ID: 1}}, // a no-op: nil Value
		}},
		&msg.Nack{From: 1, Ballot: b, Promised: msg.Ballot{Round: 1<<40 + 1, ID: 1}, LeaderAlive: true},
		&msg.Accept{From: 3, Ballot: b, Proposals: []msg.Proposal{{Slot: 10, Value: val}, {Slot: 11, Value: &msg.Value{}},
			{Slot: 12, Value: &msg.Value{Change: []byte{0x81, 0xa1, 0x62, 0x01}}},
			{Slot: 13, Value: &msg.Value{Floor: []byte{0x82, 0xa1, 0x74, 0x05, 0xa1, 0x68, 0x90}}}},
			Chosen: msg.Run{First: 4, Through: 9}},
		&msg.Accepted{From: 2, Ballot: b, Slots: []uint64{10, 11, 1 << 63}, Values: []*msg.Value{val, nil, val}},
		&msg.Heartbeat{From: 3, Ballot: b, Seq: 99, Commit: 1234, Chosen: msg.Run{First: 1000, Through: 1234}},
		&msg.HeartbeatAck{From: 1, Ballot: b, Seq: 99, Promised: b, Truncated: 77},
		&msg.HeartbeatAck{From: 5, Ballot: b, Seq: 99, Promised: b, Truncated: 70, Witness: true},
		&msg.CatchupRequest{From: 1, First: 3, Last: 300},
		&msg.CatchupReply{From: 2, Through: 12, Snapshot: 9, Chosen: []msg.Proposal{{Slot: 3, Value: val}, {Slot: 4, Value: nil}}},
		&msg.ClientRequest{Cmd: msg.Command{Client: 1, Seq: 2, Acked: 1, Origin: 3, Reply: "w$1", Data: []byte("x")}, Hops: 2, Attempt: 3},
		&msg.ReadRequest{Origin: 2, Reply: "w$77", Hops: 1},
		&msg.ReadIndex{Index: 4321},
		&msg.Reject{Reason: msg.RejectOverloaded, Leader: 3, Attempt: 1 << 31},
		&msg.Result{Slot: 10, Rev: 17, Data: []byte(`{"rev":17}`), Code: msg.ErrSessionExpired},
		&msg.ReadResult{Data: []byte("value"), Applied: 44, Code: msg.ErrReadFailed, Detail: "bad query"},
		&msg.SnapshotRequest{From: 3, Slot: 1 << 40, Offset: 8 << 20},
		&msg.ChosenRun{From: 2, Ballot: b, Run: msg.Run{First: 7, Through: 1 << 40}},
		&msg.SnapshotChunk{From: 1, Slot: 1 << 40, Rev: 77, Size: 1 << 30, CRC: 0xdeadbeef, Offset: 4096, Data: []byte{1, 2, 3, 0}},
		&msg.TransferLeader{Target: 2, Origin: 3, Reply: "w$9"},
		&msg.TransferStarted{Target: 2, Ballot: b},
		&msg.TimeoutNow{From: 1, Ballot: b, Commit: 1 << 36},
		&msg.ChangeRequest{Change: []byte{0x81, 0xa1, 0x62, 0x01}, Origin: 3, Reply: "w$5", Hops: 2},
		&msg.Progress{From: 4, Ballot: b, Delivered: 1 << 34, Commit: 1<<34 + 9},
		&msg.Progress{From: 5, Ballot: b, Delivered: 7, Commit: 9, Witness: true},
		&msg.Progress{From: 6, Ballot: b, Delivered: 7, Commit: 9, Snapshot: 1 << 33},
	}
}

// wireWant is what the receiver of m gets: m, except that Accepted.Values
// never crosses the wire.
func wireWant(m any) any {
	if a, ok := m.(*msg.Accepted); ok {
		c := *a
		c.Values = nil
		return &c
	}
	return m
}

func TestWireSamplesCoverEveryType(t *testing.T) {
	seen := map[int]bool{}
	for _, m := range wireSamples() {
		i := typeIndex(m)
		if i < 0 {
			t.Fatalf("%T is not a wire type", m)
		}
		if want := reflect.TypeOf(m).Elem().Name(); wireTypes[i].name != want {
			t.Errorf("%T has wire name %q, want %q", m, wireTypes[i].name, want)
		}
		if got := reflect.TypeOf(wireTypes[i].new()); got != reflect.TypeOf(m) {
			t.Errorf("wire type %q makes %v, want %T", wireTypes[i].name, got, m)
		}
		seen[i] = true
	}
	if len(seen) != len(wireTypes) {
		t.Errorf("samples cover %d of %d wire types", len(seen), len(wireTypes))
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	for _, m := range wireSamples() {
		t.Run(fmt.Sprintf("%T", m), func(t *testing.T) {
			a, err := Encode(testCluster, m)
			if err != nil {
				t.Fatal(err)
			}
			name := reflect.TypeOf(m).Elem().Name()
			if want := "rsml/" + testCluster + "/" + name; a.TypeUrl != want {
				t.Errorf("TypeUrl = %q, want %q", a.TypeUrl, want)
			}
			got, err := Decode(testCluster, a)
			if err != nil {
				t.Fatal(err)
			}
			if want := wireWant(m); !reflect.DeepEqual(got, want) {
				t.Errorf("round trip:\n got %#v\nwant %#v", got, want)
			}
		})
	}
}

func TestEncodeOwnsItsBytes(t *testing.T) {
	a1, err := Encode(testCluster, &msg.ReadIndex{Index: 1})
	if err != nil {
		t.Fatal(err)
	}
	keep := bytes.Clone(a1.Value)
	if _, err := Encode(testCluster, &msg.Heartbeat{From: 9, Seq: 1 << 60, Commit: 1 << 61}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a1.Value, keep) {
		t.Error("a later Encode changed an earlier Any's bytes")
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		cluster string
		m       any
		want    error
	}{
		{"local-only type", testCluster, &msg.Tick{}, ErrUnknownType},
		{"deliver", testCluster, &msg.Deliver{}, ErrUnknownType},
		{"not a pointer", testCluster, msg.Prepare{}, ErrUnknownType},
		{"nil pointer", testCluster, (*msg.Accept)(nil), ErrUnknownType},
		{"nil", testCluster, nil, ErrUnknownType},
		{"string", testCluster, "hello", ErrUnknownType},
		{"empty cluster", "", &msg.ReadIndex{}, ErrBadClusterID},
		{"slash in cluster", "a/b", &msg.ReadIndex{}, ErrBadClusterID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Encode(tt.cluster, tt.m)
			if !errors.Is(err, tt.want) || a != nil {
				t.Errorf("Encode(%q, %T) = %v, %v; want error %v", tt.cluster, tt.m, a, err, tt.want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	good, err := Encode(testCluster, &msg.Accept{From: 1, Proposals: []msg.Proposal{{Slot: 1, Value: &msg.Value{}}}})
	if err != nil {
		t.Fatal(err)
	}
	url := "rsml/" + testCluster + "/Accept"
	tests := []struct {
		name string
		a    *anypb.Any
		want error
	}{
		{"nil", nil, ErrUnknownType},
		{"empty", &anypb.Any{}, ErrUnknownType},
		{"protobuf url", &anypb.Any{TypeUrl: "type.googleapis.com/actor.PID", Value: good.Value}, ErrUnknownType},
		{"no type name", &anypb.Any{TypeUrl: "rsml/" + testCluster, Value: good.Value}, ErrUnknownType},
		{"unknown type", &anypb.Any{TypeUrl: "rsml/" + testCluster + "/Tick", Value: []byte{0x80}}, ErrUnknownType},
		{"extra segment", &anypb.Any{TypeUrl: "rsml/" + testCluster + "/x/Accept", Value: good.Value}, ErrUnknownType},
		{"foreign cluster", &anypb.Any{TypeUrl: "rsml/other/Accept", Value: good.Value}, ErrForeignCluster},
		{"cluster prefix", &anypb.Any{TypeUrl: "rsml/" + testCluster + "x/Accept", Value: good.Value}, ErrForeignCluster},
		{"empty value", &anypb.Any{TypeUrl: url}, ErrMalformed},
		{"truncated", &anypb.Any{TypeUrl: url, Value: good.Value[:len(good.Value)-1]}, ErrMalformed},
		{"trailing byte", &anypb.Any{TypeUrl: url, Value: append(bytes.Clone(good.Value), 0)}, ErrMalformed},
		{"wrong type", &anypb.Any{TypeUrl: url, Value: []byte{0xa3, 'a', 'b', 'c'}}, ErrMalformed},
		{"field of wrong type", &anypb.Any{TypeUrl: url, Value: []byte{0x81, 0xa1, 'f', 0xa1, 'x'}}, ErrMalformed},
		{"code 0xc1", &anypb.Any{TypeUrl: url, Value: []byte{0xc1}}, ErrMalformed},
		{"huge array", &anypb.Any{TypeUrl: url, Value: []byte{0x81, 0xa1, 'p', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x80}}, ErrMalformed},
		{"huge map", &anypb.Any{TypeUrl: url, Value: []byte{0xdf, 0xff, 0xff, 0xff, 0xff}}, ErrMalformed},
		{"huge bin", &anypb.Any{TypeUrl: "rsml/" + testCluster + "/Result", Value: []byte{0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff}}, ErrMalformed},
		{"huge str", &anypb.Any{TypeUrl: url, Value: []byte{0x81, 0xdb, 0x7f, 0xff, 0xff, 0xff}}, ErrMalformed},
		{"too deep", &anypb.Any{TypeUrl: url, Value: bytes.Repeat([]byte{0x91}, maxDepth+1)}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Decode(testCluster, tt.a)
			if !errors.Is(err, tt.want) || m != nil {
				t.Errorf("Decode = %v, %v; want error %v", m, err, tt.want)
			}
		})
	}
}

// TestDecodeHugeLengthsAllocateLittle checks the guard in front of msgpack: a
// length field claiming 4 G elements or bytes must not make Decode allocate
// them (msgpack v5 preallocates slices to the claimed length).
func TestDecodeHugeLengthsAllocateLittle(t *testing.T) {
	inputs := map[string]*anypb.Any{
		"proposals": {TypeUrl: "rsml/" + testCluster + "/Accept", Value: []byte{0x81, 0xa1, 'p', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x80, 0x80}},
		"slots":     {TypeUrl: "rsml/" + testCluster + "/Accepted", Value: []byte{0x81, 0xa1, 's', 0xdd, 0x0f, 0xff, 0xff, 0xff, 0x01}},
		"entries":   {TypeUrl: "rsml/" + testCluster + "/Promise", Value: []byte{0x81, 0xa1, 'e', 0xdc, 0xff, 0xff, 0xc0}},
		"data":      {TypeUrl: "rsml/" + testCluster + "/ReadResult", Value: []byte{0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0x7f, 0xff, 0xff, 0xff, 1}},
	}
	for name, a := range inputs {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			m, err := Decode(testCluster, a)
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("Decode = %#v, want an error", m)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("Decode allocated %d bytes for a %d-byte input", n, len(a.Value))
			}
		})
	}
}

func TestValidClusterID(t *testing.T) {
	for _, ok := range []string{"a", "demo", "prod-eu_1.blue", "Z9", strings.Repeat("x", 64)} {
		if err := ValidClusterID(ok); err != nil {
			t.Errorf("ValidClusterID(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", 65), "a/b", "a b", "é", "a:b", "a\x00"} {
		if err := ValidClusterID(bad); !errors.Is(err, ErrBadClusterID) {
			t.Errorf("ValidClusterID(%q) = %v, want ErrBadClusterID", bad, err)
		}
	}
}

func TestCheckMsgpackAcceptsEveryKind(t *testing.T) {
	// One of each msgpack form, inside an array32 so the walk continues after it.
	values := [][]byte{
		{0x05}, {0xe0}, {0xc0}, {0xc2}, {0xc3},
		{0xcc, 1}, {0xcd, 1, 2}, {0xce, 1, 2, 3, 4}, {0xcf, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd0, 1}, {0xd1, 1, 2}, {0xd2, 1, 2, 3, 4}, {0xd3, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xca, 1, 2, 3, 4}, {0xcb, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xa2, 'h', 'i'}, {0xd9, 1, 'x'}, {0xda, 0, 1, 'x'}, {0xdb, 0, 0, 0, 1, 'x'},
		{0xc4, 1, 9}, {0xc5, 0, 1, 9}, {0xc6, 0, 0, 0, 1, 9},
		{0xd4, 1, 9}, {0xd5, 1, 9, 9}, {0xd6, 1, 9, 9, 9, 9}, {0xd7, 1, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xd8, 1, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8},
		{0xc7, 1, 5, 9}, {0xc8, 0, 1, 5, 9}, {0xc9, 0, 0, 0, 1, 5, 9},
		{0x92, 1, 2}, {0xdc, 0, 1, 1}, {0xdd, 0, 0, 0, 1, 1}, {0x90},
		{0x81, 1, 2}, {0xde, 0, 1, 1, 2}, {0xdf, 0, 0, 0, 1, 1, 2}, {0x80},
	}
	all := []byte{0xdd, 0, 0, 0, byte(len(values))}
	for _, v := range values {
		if err := checkMsgpack(v); err != nil {
			t.Errorf("checkMsgpack(% x) = %v", v, err)
		}
		if err := checkMsgpack(v[:len(v)-1]); err == nil && len(v) > 1 {
			t.Errorf("checkMsgpack(% x) accepts a truncated value", v[:len(v)-1])
		}
		all = append(all, v...)
	}
	if err := checkMsgpack(all); err != nil {
		t.Errorf("checkMsgpack(all) = %v", err)
	}
	nested := append(bytes.Repeat([]byte{0x91}, maxDepth), 0x01)
	if err := checkMsgpack(nested); err != nil {
		t.Errorf("checkMsgpack(%d nested arrays) = %v", maxDepth, err)
	}
}

// FuzzDecode feeds Decode arbitrary TypeUrls and bytes: it must never panic,
// and whatever it accepts must encode again to the same message.
func FuzzDecode(f *testing.F) {
	for _, m := range wireSamples() {
		a, err := Encode(testCluster, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(a.TypeUrl, a.Value)
	}
	url := "rsml/" + testCluster + "/"
	url0 := url
	f.Add(url+"Accept", []byte{0x81, 0xa1, 'p', 0xdd, 0xff, 0xff, 0xff, 0xff, 0x80})
	f.Add(url+"Promise", []byte{0x81, 0xa1, 'e', 0x91, 0x81, 0xa1, 'v', 0xdf, 0xff, 0xff, 0xff, 0xff})
	f.Add(url+"Result", []byte{0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6, 0xff, 0xff, 0xff, 0xff})
	f.Add(url+"ReadRequest", []byte{0x83, 0xa1, 'o', 0xd3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa1, 'w', 0xc0, 0xa1, 'h', 0xcd, 1, 0})
	f.Add(url+"Heartbeat", []byte{0x94, 1, 2, 3, 4})
	f.Add(url+"Nack", []byte{0xd7, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add(url+"Accept", bytes.Repeat([]byte{0x91}, 100))
	f.Add(url+"Tick", []byte{0x80})
	f.Add("rsml/other/Accept", []byte{0x80})
	f.Add("junk", []byte("junk"))
	f.Add("", []byte{})
	f.Fuzz(func(t *testing.T, url string, value []byte) {
		m, err := Decode(testCluster, &anypb.Any{TypeUrl: url, Value: value})
		if i, ok := typeByName[strings.TrimPrefix(url, url0)]; ok && strings.HasPrefix(url, url0) {
			// The fast decoder must agree with msgpack's.
			want, werr := slowDecode(i, value)
			if (err == nil) != (werr == nil) || (err == nil && !reflect.DeepEqual(m, want)) {
				t.Fatalf("Decode = %#v, %v; msgpack = %#v, %v", m, err, want, werr)
			}
		}
		if err != nil {
			if m != nil {
				t.Fatalf("Decode returned %#v with error %v", m, err)
			}
			return
		}
		a, err := Encode(testCluster, m)
		if err != nil {
			t.Fatalf("Decode accepted %q % x as %#v, which does not encode: %v", url, value, m, err)
		}
		again, err := Decode(testCluster, a)
		if err != nil {
			t.Fatalf("re-encoded %#v does not decode: %v", m, err)
		}
		if !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encoding changed the message:\n got %#v\nwant %#v", again, m)
		}
		if want := reflectEncode(t, m); !bytes.Equal(a.Value, want) {
			t.Fatalf("%T: encoding differs from msgpack's\n got % x\nwant % x", m, head(a.Value), head(want))
		}
	})
}

// slowDecode is Decode with msgpack's reflective decoder only: the reference
// for the fast one.
func slowDecode(i int, b []byte) (any, error) {
	if err := checkMsgpack(b); err != nil {
		return nil, err
	}
	m := wireTypes[i].new()
	if err := decodeInto(b, m); err != nil {
		return nil, err
	}
	return m, nil
}

// TestFastDecoderTakesEveryEncoding checks that everything Encode writes is
// read by the fast decoder (no fallback to msgpack) and to the same message.
func TestFastDecoderTakesEveryEncoding(t *testing.T) {
	for i, m := range edgeSamples() {
		a, err := Encode(testCluster, m)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := fastDecode(typeIndex(m), a.Value)
		if !ok {
			t.Errorf("sample %d %T: the fast decoder gave up", i, m)
			continue
		}
		want, err := slowDecode(typeIndex(m), a.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("sample %d %T: fast %#v, msgpack %#v", i, m, got, want)
		}
	}
	// Forms msgpack reads and the fast decoder leaves to it.
	for _, tt := range []struct {
		name string
		b    []byte
	}{
		{"wide uint", []byte{0x81, 0xa1, 'i', 0xcf, 0, 0, 0, 0, 0, 0, 0, 1}},
		{"repeated key", []byte{0x82, 0xa1, 'i', 1, 0xa1, 'i', 2}},
		{"unknown key", []byte{0x82, 0xa1, 'i', 1, 0xa1, 'x', 2}},
		{"nil index", []byte{0x81, 0xa1, 'i', 0xc0}},
		{"array struct", []byte{0x91, 5}},
		{"map16", []byte{0xde, 0, 1, 0xa1, 'i', 3}},
	} {
		fast, fok := fastDecode(11, tt.b) // ReadIndex
		slow, err := slowDecode(11, tt.b)
		if fok && (err != nil || !reflect.DeepEqual(fast, slow)) {
			t.Errorf("%s: fast %#v, msgpack %#v, %v", tt.name, fast, slow, err)
		}
		if got, derr := Decode(testCluster, &anypb.Any{TypeUrl: "rsml/" + testCluster + "/ReadIndex", Value: tt.b}); (derr == nil) != (err == nil) || !reflect.DeepEqual(got, slow) && err == nil {
			t.Errorf("%s: Decode = %#v, %v; msgpack %#v, %v", tt.name, got, derr, slow, err)
		}
	}
}

// benchAccept is a phase 2a message carrying a 16-command batch of 128-byte
// values, the benchmark's typical write.
func benchAccept() *msg.Accept {
	cmds := make([]msg.Command, 16)
	for i := range cmds {
		cmds[i] = msg.Command{Client: uint64(1000 + i), Seq: uint64(50 + i), Acked: uint64(49 + i), Origin: 2,
			Reply: fmt.Sprintf("w$%d", 100+i), Data: bytes.Repeat([]byte{byte(i)}, 128)}
	}
	return &msg.Accept{From: 1, Ballot: msg.Ballot{Round: 7, ID: 1}, Proposals: []msg.Proposal{{Slot: 123456, Value: &msg.Value{Cmds: cmds}}}}
}

func BenchmarkEncodeDecode(b *testing.B) {
	m := benchAccept()
	a, err := Encode(testCluster, m)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("Accept with 16 x 128-byte commands: %d bytes on the wire", len(a.Value)+len(a.TypeUrl))
	b.Run("Encode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(a.Value)))
		for b.Loop() {
			if _, err := Encode(testCluster, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Decode", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(a.Value)))
		for b.Loop() {
			if _, err := Decode(testCluster, a); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("RoundTrip", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(a.Value)))
		for b.Loop() {
			a, err := Encode(testCluster, m)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Decode(testCluster, a); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// reflectEncode is msgpack's own encoding of m, the reference the
// hand-written encoder must match byte for byte.
func reflectEncode(t testing.TB, m any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := msgpack.NewEncoder(&buf)
	enc.UseCompactInts(true)
	if err := enc.Encode(m); err != nil {
		t.Fatalf("msgpack.Encode(%T): %v", m, err)
	}
	return buf.Bytes()
}

// edgeSamples adds to wireSamples the forms the encoder must get right:
// zero messages, nil and empty slices, and every length class of strings,
// bytes and arrays.
func edgeSamples() []any {
	out := wireSamples()
	for _, t := range wireTypes {
		out = append(out, t.new()) // every field zero
	}
	long := func(n int) string { return strings.Repeat("x", n) }
	var cmds []msg.Command
	for i := range 70000 {
		cmds = append(cmds, msg.Command{Client: uint64(i) << 20, Seq: uint64(i), Data: []byte{}})
	}
	slots := make([]uint64, 0, 70000)
	for i := range 70000 {
		slots = append(slots, uint64(i)*0x1_0000_0001)
	}
	out = append(out,
		&msg.Accept{Proposals: []msg.Proposal{}},
		&msg.Accept{Proposals: []msg.Proposal{{}, {Value: &msg.Value{}}, {Value: &msg.Value{Cmds: []msg.Command{}}}}},
		&msg.Accept{Proposals: []msg.Proposal{{Slot: 1, Value: &msg.Value{Cmds: cmds}}}},
		&msg.Accepted{Slots: []uint64{}},
		&msg.Accepted{Slots: slots[:16]},
		&msg.Accepted{Slots: slots},
		&msg.Promise{Entries: []msg.Entry{}},
		&msg.CatchupReply{Chosen: []msg.Proposal{}},
		&msg.ReadRequest{Reply: long(31)},
		&msg.ReadRequest{Reply: long(32)},
		&msg.ReadRequest{Reply: long(255)},
		&msg.ReadRequest{Reply: long(256)},
		&msg.ReadRequest{Reply: long(65535)},
		&msg.ReadRequest{Reply: long(65536)},
		&msg.Result{Data: []byte{}},
		&msg.Result{Data: bytes.Repeat([]byte{1}, 255)},
		&msg.Result{Data: bytes.Repeat([]byte{1}, 256)},
		&msg.Result{Data: bytes.Repeat([]byte{1}, 65535)},
		&msg.Result{Data: bytes.Repeat([]byte{1}, 65536)},
		&msg.Heartbeat{From: math.MaxUint32, Seq: math.MaxUint64, Commit: 128, Ballot: msg.Ballot{Round: 255, ID: 256}},
		&msg.HeartbeatAck{Seq: 65535, Promised: msg.Ballot{Round: 65536, ID: 127}},
		&msg.ClientRequest{Cmd: msg.Command{Origin: 1}, Hops: 255},
		&msg.Reject{Reason: 255, Leader: math.MaxUint32},
	)
	return out
}

func TestEncoderMatchesMsgpack(t *testing.T) {
	for i, m := range edgeSamples() {
		a, err := Encode(testCluster, m)
		if err != nil {
			t.Fatalf("sample %d %T: %v", i, m, err)
		}
		if want := reflectEncode(t, m); !bytes.Equal(a.Value, want) {
			t.Errorf("sample %d %T: encoding differs from msgpack's\n got % x\nwant % x", i, m, head(a.Value), head(want))
		}
		got, err := Decode(testCluster, a)
		if err != nil {
			t.Fatalf("sample %d %T: %v", i, m, err)
		}
		// msgpack decodes an empty byte string as an empty slice and a nil
		// one as nil, so equality holds for every sample, empty ones too.
		if want := wireWant(m); !reflect.DeepEqual(got, want) {
			t.Errorf("sample %d %T: round trip differs", i, m)
		}
	}
}

func head(b []byte) []byte { return b[:min(len(b), 64)] }
