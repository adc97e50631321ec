package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/vmihailenco/msgpack/v5"
)

// The executor's view of a state machine, restated here so the test fails to
// compile if Store stops satisfying it.
var (
	_ interface {
		Apply(rev uint64, cmd []byte) []byte
		Snapshot(w io.Writer) error
		Restore(r io.Reader) error
	} = (*Store)(nil)
	_ interface {
		Read(query []byte) ([]byte, error)
	} = (*Store)(nil)
)

func apply(t testing.TB, s *Store, rev uint64, cmd []byte) WriteResult {
	t.Helper()
	r, err := DecodeWrite(s.Apply(rev, cmd))
	if err != nil {
		t.Fatalf("Apply(%d) result: %v", rev, err)
	}
	return r
}

func read(t testing.TB, s *Store, key string) GetResult {
	t.Helper()
	b, err := s.Read(Get(key))
	if err != nil {
		t.Fatalf("Read(%q): %v", key, err)
	}
	r, err := DecodeGet(b)
	if err != nil {
		t.Fatalf("Read(%q) result: %v", key, err)
	}
	return r
}

func equalGet(a, b GetResult) bool {
	return a.Found == b.Found && a.Rev == b.Rev && bytes.Equal(a.Value, b.Value) &&
		(a.Value == nil) == (b.Value == nil)
}

func found(v string, rev uint64) GetResult { return GetResult{Found: true, Value: []byte(v), Rev: rev} }

// TestWrite applies one command (at rev 10) to a store prepared by setup
// (revs 1, 2, ...) and checks the result, the key afterwards, and that a
// failed condition changed nothing.
func TestWrite(t *testing.T) {
	const rev = 10
	put1 := [][]byte{Put("k", []byte("v1"))} // k at rev 1
	tests := []struct {
		name      string
		setup     [][]byte
		cmd       []byte
		want      WriteResult
		wantErr   error
		wantKey   GetResult
		unchanged bool
	}{
		{name: "put new", cmd: Put("k", []byte("v")),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v", rev)},
		{name: "put overwrite", setup: put1, cmd: Put("k", []byte("v2")),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v2", rev)},
		{name: "put same value still takes the rev", setup: put1, cmd: Put("k", []byte("v1")),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v1", rev)},
		{name: "put empty value", cmd: Put("k", []byte{}),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("", rev)},
		{name: "put nil value is empty", setup: put1, cmd: Put("k", nil),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("", rev)},
		{name: "put binary key", cmd: Put("k", []byte{0, 0xff}),
			want: WriteResult{Rev: rev, OK: true}, wantKey: GetResult{Found: true, Value: []byte{0, 0xff}, Rev: rev}},

		{name: "delete present", setup: put1, cmd: Delete("k"),
			want: WriteResult{Rev: rev, OK: true, Deleted: true}},
		{name: "delete absent", cmd: Delete("k"),
			want: WriteResult{Rev: rev, OK: true}, unchanged: true},
		{name: "delete other key", setup: put1, cmd: Delete("x"),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v1", 1), unchanged: true},

		{name: "put if-rev holds", setup: put1, cmd: PutIf("k", []byte("v2"), IfRev(1)),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v2", rev)},
		{name: "put if-rev stale", setup: append(put1, Put("k", []byte("v2"))), cmd: PutIf("k", []byte("v3"), IfRev(1)),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, wantKey: found("v2", 2), unchanged: true},
		{name: "put if-rev absent", cmd: PutIf("k", []byte("v"), IfRev(1)),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, unchanged: true},
		{name: "put if-rev 0 never holds", cmd: PutIf("k", []byte("v"), IfRev(0)),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, unchanged: true},
		{name: "put if-rev max", setup: put1, cmd: PutIf("k", []byte("v"), IfRev(math.MaxUint64)),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, wantKey: found("v1", 1), unchanged: true},
		{name: "put if-exists holds", setup: put1, cmd: PutIf("k", []byte("v2"), IfExists()),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v2", rev)},
		{name: "put if-exists absent", cmd: PutIf("k", []byte("v"), IfExists()),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, unchanged: true},
		{name: "put if-absent holds", cmd: PutIf("k", []byte("v"), IfAbsent()),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v", rev)},
		{name: "put if-absent present", setup: put1, cmd: PutIf("k", []byte("v2"), IfAbsent()),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, wantKey: found("v1", 1), unchanged: true},
		{name: "put if-absent after delete", setup: append(put1, Delete("k")), cmd: PutIf("k", []byte("v"), IfAbsent()),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v", rev)},
		{name: "put zero cond is unconditional", setup: put1, cmd: PutIf("k", []byte("v2"), Cond{}),
			want: WriteResult{Rev: rev, OK: true}, wantKey: found("v2", rev)},

		{name: "delete if-rev holds", setup: put1, cmd: DeleteIf("k", IfRev(1)),
			want: WriteResult{Rev: rev, OK: true, Deleted: true}},
		{name: "delete if-rev stale", setup: put1, cmd: DeleteIf("k", IfRev(2)),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, wantKey: found("v1", 1), unchanged: true},
		{name: "delete if-rev absent", cmd: DeleteIf("k", IfRev(1)),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, unchanged: true},
		{name: "delete if-exists holds", setup: put1, cmd: DeleteIf("k", IfExists()),
			want: WriteResult{Rev: rev, OK: true, Deleted: true}},
		{name: "delete if-exists absent", cmd: DeleteIf("k", IfExists()),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, unchanged: true},
		{name: "delete if-absent absent", cmd: DeleteIf("k", IfAbsent()),
			want: WriteResult{Rev: rev, OK: true}, unchanged: true},
		{name: "delete if-absent present", setup: put1, cmd: DeleteIf("k", IfAbsent()),
			want: WriteResult{Rev: rev}, wantErr: ErrConditionFailed, wantKey: found("v1", 1), unchanged: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			for i, c := range tc.setup {
				if r := apply(t, s, uint64(i+1), c); r.Error() != nil {
					t.Fatalf("setup %d: %+v", i, r)
				}
			}
			before, beforeLen := content(s), s.Len()

			got := apply(t, s, rev, tc.cmd)
			if got != tc.want {
				t.Errorf("result = %+v, want %+v", got, tc.want)
			}
			if err := got.Error(); !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("Error() = %v, want %v", err, tc.wantErr)
			}
			if g := read(t, s, "k"); !equalGet(g, tc.wantKey) {
				t.Errorf("Read(k) = %+v, want %+v", g, tc.wantKey)
			}
			if g := s.Get("k"); !equalGet(g, tc.wantKey) {
				t.Errorf("Get(k) = %+v, want %+v", g, tc.wantKey)
			}
			if changed := content(s) != before || s.Len() != beforeLen; changed == tc.unchanged {
				t.Errorf("state changed = %v, want %v", changed, !tc.unchanged)
			}
		})
	}
}

// TestRevs runs one script: every command reports the rev it was given, even
// when it changes nothing, and each key carries the rev of its last write.
func TestRevs(t *testing.T) {
	s := New()
	steps := []struct {
		rev uint64
		cmd []byte
	}{
		{3, Put("a", []byte("1"))},
		{4, Delete("missing")},
		{5, PutIf("a", []byte("x"), IfAbsent())}, // fails
		{9, Put("b", []byte("2"))},               // revs need not be dense
		{10, DeleteIf("b", IfRev(3))},            // fails
		{11, Put("a", []byte("3"))},
		{12, DeleteIf("missing", IfExists())}, // fails
	}
	for _, st := range steps {
		if r := apply(t, s, st.rev, st.cmd); r.Rev != st.rev || r.Err != "" {
			t.Fatalf("rev %d: result %+v", st.rev, r)
		}
	}
	for key, want := range map[string]GetResult{"a": found("3", 11), "b": found("2", 9), "missing": {}} {
		if g := read(t, s, key); !equalGet(g, want) {
			t.Errorf("%s = %+v, want %+v", key, g, want)
		}
	}
}

func rawCmd(t *testing.T, fields ...any) []byte {
	t.Helper()
	b, err := msgpack.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadCommand: input the store cannot execute yields an error result with
// the given rev, refused by Read too, and changes nothing.
func TestBadCommand(t *testing.T) {
	put := Put("k", []byte("value"))
	tests := []struct {
		name string
		rev  uint64
		cmd  []byte
		read bool // Read must refuse it as well
	}{
		{name: "nil", cmd: nil, read: true},
		{name: "empty", cmd: []byte{}, read: true},
		{name: "junk", cmd: []byte("hello, world"), read: true},
		{name: "not an array", cmd: []byte{0xa1, 'k'}, read: true},
		{name: "map", cmd: []byte{0x81, 0x01, 0x02}, read: true},
		{name: "empty array", cmd: []byte{0x90}, read: true},
		{name: "nil array", cmd: []byte{0xc0}, read: true},
		{name: "truncated put", cmd: put[:len(put)-1], read: true},
		{name: "trailing byte", cmd: append(bytes.Clone(put), 0), read: true},
		{name: "huge bin length", cmd: []byte{0x93, 0x01, 0xa1, 'k', 0xc6, 0xff, 0xff, 0xff, 0xff}, read: true},
		{name: "huge str length", cmd: []byte{0x92, 0x03, 0xdb, 0xff, 0xff, 0xff, 0xff}, read: true},
		{name: "huge array", cmd: []byte{0xdd, 0xff, 0xff, 0xff, 0xff}, read: true},
		{name: "empty key put", cmd: Put("", []byte("v")), read: true},
		{name: "empty key delete", cmd: Delete(""), read: true},
		{name: "empty key conditional", cmd: DeleteIf("", IfExists()), read: true},
		{name: "empty key get", cmd: Get(""), read: true},
		{name: "unknown op", cmd: rawCmd(t, 9, "k"), read: true},
		{name: "op out of range", cmd: rawCmd(t, 257, "k"), read: true},
		{name: "put without value", cmd: rawCmd(t, 1, "k"), read: true},
		{name: "get with extra field", cmd: rawCmd(t, 3, "k", 1), read: true},
		{name: "key not a string", cmd: rawCmd(t, 1, 5, []byte("v")), read: true},
		{name: "op not a number", cmd: rawCmd(t, "put", "k", []byte("v")), read: true},
		{name: "cond unknown kind", cmd: rawCmd(t, 2, "k", 7), read: true},
		{name: "cond none encoded", cmd: rawCmd(t, 2, "k", 0), read: true},
		{name: "if-rev without rev", cmd: rawCmd(t, 2, "k", 1), read: true},
		{name: "if-exists with rev", cmd: rawCmd(t, 2, "k", 2, 5), read: true},
		{name: "too many fields", cmd: rawCmd(t, 1, "k", []byte("v"), 1, 5, 6), read: true},
		{name: "rev zero", rev: 0, cmd: Put("k", []byte("v"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rev := tc.rev
			if tc.name != "rev zero" {
				rev = 7
			}
			s := New()
			apply(t, s, 1, Put("k", []byte("old")))
			before := content(s)

			got := apply(t, s, rev, tc.cmd)
			if got.Err == "" || got.OK || got.Deleted || got.Rev != rev {
				t.Errorf("result = %+v, want an error result at rev %d", got, rev)
			}
			if err := got.Error(); !errors.Is(err, ErrBadCommand) {
				t.Errorf("Error() = %v, want ErrBadCommand", err)
			}
			if content(s) != before || !equalGet(s.Get("k"), found("old", 1)) {
				t.Errorf("state changed")
			}
			if tc.read {
				if out, err := s.Read(tc.cmd); !errors.Is(err, ErrBadCommand) || out != nil {
					t.Errorf("Read = %x, %v; want ErrBadCommand", out, err)
				}
			}
		})
	}
}

// A length prefix larger than the input must not cost memory in proportion
// to the claimed length, nor grow with repetition.
func TestHugeLengthsDoNotAllocate(t *testing.T) {
	s := New()
	junk := [][]byte{
		{0x93, 0x01, 0xdb, 0xa1, 0x6b, 0xc4, 0x01, 0x76},      // key: str32 of ~2.7 GB
		{0x93, 0x01, 0xa1, 'k', 0xc6, 0xff, 0xff, 0xff, 0xff}, // value: bin32 of 4 GB
		{0x93, 0x01, 0xc6, 0x7f, 0xff, 0xff, 0xff, 0x00},      // key as bin32
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := range 300 {
		for _, b := range junk {
			apply(t, s, uint64(i+1), b)
			if _, err := s.Read(b); err == nil {
				t.Fatal("Read accepted junk")
			}
		}
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 4<<20 {
		t.Errorf("%d junk commands allocated %d bytes", 300*len(junk), n)
	}
}

func TestReadRefusesWrites(t *testing.T) {
	s := New()
	for _, cmd := range [][]byte{Put("k", nil), Delete("k"), PutIf("k", nil, IfAbsent())} {
		if _, err := s.Read(cmd); !errors.Is(err, ErrBadCommand) {
			t.Errorf("Read(%x) err = %v, want ErrBadCommand", cmd, err)
		}
	}
}

// A Get sent through the log is answered in order and consumes nothing.
func TestApplyGet(t *testing.T) {
	s := New()
	apply(t, s, 1, Put("k", []byte("v")))
	before := content(s)
	for key, want := range map[string]GetResult{"k": found("v", 1), "x": {}} {
		g, err := DecodeGet(s.Apply(2, Get(key)))
		if err != nil || !equalGet(g, want) {
			t.Errorf("Apply(Get(%q)) = %+v, %v; want %+v", key, g, err, want)
		}
	}
	if content(s) != before {
		t.Error("Get changed the state")
	}
}

// Stored values must not alias the command buffer, and Get's value must not
// alias the store.
func TestNoAliasing(t *testing.T) {
	s := New()
	cmd := Put("k", []byte("value"))
	apply(t, s, 1, cmd)
	for i := range cmd {
		cmd[i] = 0
	}
	g := s.Get("k")
	g.Value[0] = 'X'
	if got := read(t, s, "k"); !equalGet(got, found("value", 1)) {
		t.Errorf("Read = %+v after mutating inputs and outputs", got)
	}
}

func TestWriteResultError(t *testing.T) {
	tests := []struct {
		r    WriteResult
		want error
	}{
		{WriteResult{Rev: 1, OK: true}, nil},
		{WriteResult{Rev: 1, OK: true, Deleted: true}, nil},
		{WriteResult{Rev: 1}, ErrConditionFailed},
		{WriteResult{Rev: 1, Err: "boom"}, ErrBadCommand},
	}
	for _, tc := range tests {
		err := tc.r.Error()
		if !errors.Is(err, tc.want) || (err == nil) != (tc.want == nil) {
			t.Errorf("%+v.Error() = %v, want %v", tc.r, err, tc.want)
		}
		// The encoding round-trips every field.
		if got, err := DecodeWrite(encodeWrite(tc.r)); err != nil || got != tc.r {
			t.Errorf("round trip of %+v = %+v, %v", tc.r, got, err)
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name             string
		b                []byte
		notWrite, notGet bool
	}{
		{"nil", nil, true, true},
		{"junk", []byte("junk"), true, true},
		{"get result", encodeGet(found("v", 3)), true, false},
		{"absent get result", encodeGet(GetResult{}), true, false},
		{"write result", encodeWrite(WriteResult{Rev: 3, OK: true}), false, true},
		{"unknown flags", rawCmd(t, 3, 8), true, true},
		{"trailing", append(encodeWrite(WriteResult{Rev: 3, OK: true}), 0x90), true, true},
	}
	for _, tc := range tests {
		if _, err := DecodeWrite(tc.b); errors.Is(err, ErrMalformed) != tc.notWrite {
			t.Errorf("DecodeWrite(%s) err = %v", tc.name, err)
		}
		if _, err := DecodeGet(tc.b); errors.Is(err, ErrMalformed) != tc.notGet {
			t.Errorf("DecodeGet(%s) err = %v", tc.name, err)
		}
	}
}

// populate builds a state with awkward keys and values, deletes included.
func populate(t testing.TB, s *Store, n int) {
	rev := uint64(0)
	next := func() uint64 { rev++; return rev }
	for i := range n {
		apply(t, s, next(), Put("key/"+strconv.Itoa(i), bytes.Repeat([]byte{byte(i)}, i%300)))
	}
	apply(t, s, next(), Put("\x00bin\xff", []byte{}))
	apply(t, s, next(), Put(string(bytes.Repeat([]byte("k"), 1024)), bytes.Repeat([]byte("v"), 70000)))
	for i := 0; i < n; i += 3 {
		apply(t, s, next(), Delete("key/"+strconv.Itoa(i)))
	}
}

func snapshot(t testing.TB, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// onlyWriter hides bytes.Buffer's WriteByte, so Snapshot takes its buffered path.
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

func TestSnapshotRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 1000} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			src := New()
			populate(t, src, n)
			snap := snapshot(t, src)

			if again := snapshot(t, src); !bytes.Equal(snap, again) {
				t.Fatal("two snapshots of one state differ")
			}
			var unbuffered bytes.Buffer
			if err := src.Snapshot(onlyWriter{&unbuffered}); err != nil || !bytes.Equal(unbuffered.Bytes(), snap) {
				t.Fatalf("snapshot through a plain writer differs (err %v)", err)
			}

			readers := map[string]func() io.Reader{
				"bytes":    func() io.Reader { return bytes.NewReader(snap) },
				"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(snap)) },
			}
			for name, r := range readers {
				dst := New()
				apply(t, dst, 1, Put("stale", []byte("gone after restore")))
				if err := dst.Restore(r()); err != nil {
					t.Fatalf("%s: Restore: %v", name, err)
				}
				if dst.Digest() != src.Digest() || dst.Len() != src.Len() {
					t.Fatalf("%s: restored digest/len %x/%d, want %x/%d", name, dst.Digest(), dst.Len(), src.Digest(), src.Len())
				}
				if g := read(t, dst, "stale"); g.Found {
					t.Errorf("%s: restore kept a key the snapshot lacks", name)
				}
				items, _ := src.sorted()
				for _, it := range items {
					if g := read(t, dst, it.key); !equalGet(g, read(t, src, it.key)) {
						t.Fatalf("%s: key %q differs", name, it.key)
					}
				}
				if !bytes.Equal(snapshot(t, dst), snap) {
					t.Errorf("%s: snapshot of restored state differs", name)
				}
			}
		})
	}
}

// content is the digest of the keys alone: what a command that fails or
// only reads must leave unchanged, while the last rev still advances.
func content(s *Store) uint64 {
	items, _ := s.sorted()
	var sum uint64
	for _, it := range items {
		sum = digestEntry(sum, it.key, it.entry)
	}
	return sum
}

func TestDigest(t *testing.T) {
	a, b := New(), New()
	if a.Digest() != b.Digest() {
		t.Fatal("empty stores differ")
	}
	apply(t, a, 1, Put("k", []byte("v")))
	apply(t, b, 1, Put("k", []byte("w")))
	if a.Digest() == b.Digest() {
		t.Error("different values, same digest")
	}
	c := New()
	apply(t, c, 2, Put("k", []byte("v")))
	if a.Digest() == c.Digest() {
		t.Error("different revs, same digest")
	}
	d := New()
	apply(t, d, 1, Put("kv", []byte("")))
	e := New()
	apply(t, e, 1, Put("k", []byte("v")))
	apply(t, e, 1, Put("k", []byte("v")))
	if d.Digest() == e.Digest() {
		t.Error("entry boundary shift not detected")
	}
	f := New()
	apply(t, f, 1, Put("k", []byte("v")))
	apply(t, f, 2, Delete("absent"))
	if f.Digest() == a.Digest() || content(f) != content(a) {
		t.Error("same keys at another last rev: the digest must differ")
	}
}

// craftSnapshot encodes entries as Snapshot would, without Snapshot's checks,
// so tests can produce well-formed but invalid snapshots. Version 1 has no
// rev field; rev 0 in a later version means the highest rev of the entries.
func craftSnapshot(t *testing.T, magic string, version int, entries []item, sum func(uint64) uint64) []byte {
	return craftSnapshotRev(t, magic, version, 0, entries, sum)
}

func craftSnapshotRev(t *testing.T, magic string, version int, rev uint64, entries []item, sum func(uint64) uint64) []byte {
	t.Helper()
	var buf bytes.Buffer
	e := encoder{e: msgpack.NewEncoder(&buf)}
	if version == 1 {
		e.arrayLen(4)
	} else {
		e.arrayLen(5)
	}
	e.str(magic)
	e.uint(uint64(version))
	if rev == 0 {
		for _, it := range entries {
			rev = max(rev, it.rev)
		}
	}
	if version != 1 {
		e.uint(rev)
	}
	e.arrayLen(len(entries))
	var crc uint64
	for _, it := range entries {
		e.arrayLen(3)
		e.str(it.key)
		e.uint(it.rev)
		e.bin(it.value)
		crc = digestEntry(crc, it.key, it.entry)
	}
	if version != 1 {
		crc = digestRev(crc, rev)
	}
	e.uint(sum(crc))
	if e.err != nil {
		t.Fatal(e.err)
	}
	return buf.Bytes()
}

func TestRestoreCorrupt(t *testing.T) {
	// Small, so that every truncation and bit flip can be tried.
	src := New()
	apply(t, src, 1, Put("a", []byte("alpha")))
	apply(t, src, 2, Put("\x00b", []byte{}))
	apply(t, src, 300, Put("c", bytes.Repeat([]byte{0xff}, 40)))
	snap := snapshot(t, src)
	same := func(c uint64) uint64 { return c }
	ab := []item{{"a", entry{1, []byte("x")}}, {"b", entry{2, []byte("y")}}}

	bad := map[string][]byte{
		"nil":         nil,
		"junk":        []byte("not a snapshot at all"),
		"command":     Put("k", []byte("v")),
		"trailing":    append(bytes.Clone(snap), 0xc0),
		"wrong magic": craftSnapshot(t, "other", snapVersion, ab, same),
		"version 3":   craftSnapshot(t, snapMagic, 3, ab, same),
		"version 1 with a rev": func() []byte {
			b := craftSnapshot(t, snapMagic, snapVersion, ab, same)
			b[len(snapMagic)+2] = 1 // the version byte after [array, magic]
			return b
		}(),
		"rev below an entry's": craftSnapshotRev(t, snapMagic, snapVersion, 1, ab, same),
		"bad checksum":         craftSnapshot(t, snapMagic, snapVersion, ab, func(c uint64) uint64 { return c + 1 }),
		"unsorted":             craftSnapshot(t, snapMagic, snapVersion, []item{ab[1], ab[0]}, same),
		"duplicate key":        craftSnapshot(t, snapMagic, snapVersion, []item{ab[0], ab[0]}, same),
		"empty key":            craftSnapshot(t, snapMagic, snapVersion, []item{{"", entry{1, []byte("x")}}}, same),
		"rev 0":                craftSnapshot(t, snapMagic, snapVersion, []item{{"a", entry{0, []byte("x")}}}, same),
		"huge count":           {0x94, 0xa7, 'r', 's', 'm', 'l', '.', 'k', 'v', 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff},
	}
	for i := range len(snap) {
		bad[fmt.Sprintf("truncated to %d", i)] = snap[:i]
		for bit := range 8 {
			b := bytes.Clone(snap)
			b[i] ^= 1 << bit
			bad[fmt.Sprintf("flip byte %d bit %d", i, bit)] = b
		}
	}

	dst := New()
	populate(t, dst, 3)
	want := dst.Digest()
	for name, b := range bad {
		for rname, r := range map[string]io.Reader{"bytes": bytes.NewReader(b), "stream": iotest.OneByteReader(bytes.NewReader(b))} {
			if err := dst.Restore(r); !errors.Is(err, ErrMalformed) {
				t.Errorf("%s (%s): Restore err = %v, want ErrMalformed", name, rname, err)
			}
		}
		if dst.Digest() != want {
			t.Fatalf("%s: failed restore changed the state", name)
		}
	}
	if err := dst.Restore(iotest.ErrReader(io.ErrClosedPipe)); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("Restore of a failing reader: %v", err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n -= len(p); f.n < 0 {
		return 0, io.ErrShortWrite
	}
	return len(p), nil
}

func TestSnapshotWriteError(t *testing.T) {
	s := New()
	populate(t, s, 100)
	if err := s.Snapshot(&failWriter{n: 10}); !errors.Is(err, io.ErrShortWrite) {
		t.Errorf("Snapshot err = %v, want ErrShortWrite", err)
	}
}

// Read and Snapshot may run while Apply does; -race checks the locking.
func TestConcurrentReads(t *testing.T) {
	s := New()
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			g := read(t, s, "k")
			if g.Found && string(g.Value) != strconv.FormatUint(g.Rev, 10) {
				t.Errorf("torn read: %+v", g)
				return
			}
			if err := s.Snapshot(io.Discard); err != nil {
				t.Error(err)
				return
			}
			_ = s.Digest()
		}
	}()
	for rev := uint64(1); rev <= 2000; rev++ {
		v := strconv.FormatUint(rev, 10)
		apply(t, s, rev, Put("k", []byte(v)))
		apply(t, s, rev, Put("k"+v, []byte(v))) // same rev again: fine for the store
	}
	close(done)
	wg.Wait()
}

func FuzzApply(f *testing.F) {
	txn, _ := Txn{If: []Compare{{"k", IfRev(1)}, {"x", IfAbsent()}}, Then: []Op{PutOp("k", []byte("w")), GetOp("k"), DeleteOp("x")},
		Else: []Op{GetOp("k")}}.Encode()
	readTxn, _ := Txn{If: []Compare{{"k", IfExists()}}, Then: []Op{GetOp("k")}}.Encode()
	listQuery, _ := ListRequest{Prefix: "k", StartAfter: "a", Limit: 3}.Encode()
	for _, seed := range [][]byte{
		Put("k", []byte("v")), Put("k", nil), Put("other", []byte{0, 1, 2}),
		PutIf("k", []byte("v"), IfRev(1)), PutIf("k", []byte("v"), IfRev(math.MaxUint64)),
		PutIf("k", []byte("v"), IfExists()), PutIf("k", []byte("v"), IfAbsent()),
		Delete("k"), Delete("absent"), DeleteIf("k", IfRev(1)), DeleteIf("k", IfExists()), DeleteIf("k", IfAbsent()),
		Get("k"), Put("", nil), nil, {0x90}, {0xc0}, {0xc1}, []byte("junk"),
		{0x93, 0x01, 0xa1, 'k', 0xc6, 0xff, 0xff, 0xff, 0xff},
		{0xdd, 0xff, 0xff, 0xff, 0xff},
		encodeWrite(WriteResult{Rev: 1, OK: true}), encodeGet(found("v", 1)),
		txn, readTxn, listQuery, {0x94, 0x04, 0x90, 0x90, 0x90}, {0x94, 0x04, 0xdd, 0xff, 0xff, 0xff, 0xff},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cmd []byte) {
		s := New()
		apply(t, s, 1, Put("k", []byte("v")))
		before := content(s)

		out := s.Apply(2, cmd)
		if s.Rev() != 2 {
			t.Fatalf("store rev %d after Apply(2)", s.Rev())
		}
		if w, err := DecodeWrite(out); err == nil {
			if w.Rev != 2 {
				t.Fatalf("result rev %d, want 2", w.Rev)
			}
			if w.Err != "" && (w.OK || content(s) != before) {
				t.Fatalf("error result %+v changed the state or says OK", w)
			}
			if !w.OK && content(s) != before {
				t.Fatalf("failed write %+v changed the state", w)
			}
		} else if tr, terr := DecodeTxn(out); terr == nil {
			if tr.Rev != 2 {
				t.Fatalf("txn result rev %d, want 2", tr.Rev)
			}
			if tr.Err != "" && (tr.Succeeded || len(tr.Results) > 0 || content(s) != before) {
				t.Fatalf("refused txn %+v changed the state or has results", tr)
			}
		} else if _, gerr := DecodeGet(out); gerr != nil {
			t.Fatalf("Apply returned neither a write, a txn nor a get result: %v / %v / %v", err, terr, gerr)
		} else if content(s) != before {
			t.Fatal("a get changed the state")
		}

		after := s.Digest()
		if b, err := s.Read(cmd); err == nil {
			_, gerr := DecodeGet(b)
			_, terr := DecodeTxn(b)
			_, lerr := DecodeList(b)
			if gerr != nil && terr != nil && lerr != nil {
				t.Fatalf("Read result decodes as nothing: %v / %v / %v", gerr, terr, lerr)
			}
		} else if b != nil {
			t.Fatal("Read returned bytes with an error")
		}
		if s.Digest() != after {
			t.Fatal("Read changed the state")
		}
	})
}

func FuzzRestore(f *testing.F) {
	// Small seeds: the fuzzer mutates and minimises slowly on large inputs.
	src := New()
	apply(f, src, 1, Put("a", []byte("alpha")))
	apply(f, src, 2, Put("\x00b", []byte{}))
	apply(f, src, 300, Put("c", bytes.Repeat([]byte{0xff}, 40)))
	f.Add(snapshot(f, src))
	f.Add(snapshot(f, New()))
	f.Add([]byte("junk"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := New()
		apply(t, s, 1, Put("k", []byte("v")))
		before := s.Digest()
		if err := s.Restore(bytes.NewReader(b)); err != nil {
			if s.Digest() != before {
				t.Fatal("failed restore changed the state")
			}
			return
		}
		// Whatever was accepted must survive its own round trip.
		again := New()
		if err := again.Restore(bytes.NewReader(snapshot(t, s))); err != nil || again.Digest() != s.Digest() {
			t.Fatalf("round trip of accepted snapshot: %v", err)
		}
	})
}

func BenchmarkApplyPut(b *testing.B) {
	s := New()
	value := bytes.Repeat([]byte("v"), 128)
	cmds := make([][]byte, 1000)
	for i := range cmds {
		cmds[i] = Put("key/"+strconv.Itoa(i), value)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Apply(uint64(i+1), cmds[i%len(cmds)])
	}
}

// BenchmarkRestoreMillion restores a snapshot of 1,000,000 keys of 128 B,
// from a reader that says its length (as the executor's does).
func BenchmarkRestoreMillion(b *testing.B) {
	s := New()
	val := bytes.Repeat([]byte{'v'}, 128)
	for i := 0; i < 1_000_000; i++ {
		s.Apply(uint64(i+1), Put(fmt.Sprintf("key-%d", i), val))
	}
	var buf bytes.Buffer
	if err := s.Snapshot(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t := New()
		if err := t.Restore(&io.LimitedReader{R: bytes.NewReader(data), N: int64(len(data))}); err != nil {
			b.Fatal(err)
		}
	}
}
