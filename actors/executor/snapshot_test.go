package executor

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"

	"github.com/vmihailenco/msgpack/v5"
)

// snapshotOut is the snapshot format as msgpack.Marshal encodes it: what
// encodeSnapshot must reproduce byte for byte.
type snapshotOut struct {
	Members  []byte             `msgpack:"g,omitempty"`
	Sessions msgpack.RawMessage `msgpack:"s"`
	State    []byte             `msgpack:"m"`
}

// TestEncodeSnapshotIsTheFormat holds encodeSnapshot, and the streamed
// snapshot, to msgpack's own
// encoding of the snapshot, for states around each bin header's bounds and
// size hints too small and large.
func TestEncodeSnapshotIsTheFormat(t *testing.T) {
	for _, members := range [][]byte{nil, []byte("members")} {
		for _, n := range []int{0, 1, 255, 256, 65535, 65536, 1 << 20} {
			for _, hint := range []int{0, n / 2, 2 * n} {
				state := bytes.Repeat([]byte{0xab}, n)
				for i := range state {
					state[i] = byte(i * 7)
				}
				sessions := []byte{0x81, 0x01, 0x83, 0xa1, 0x61, 0x05, 0xa1, 0x6c, 0x07, 0xa1, 0x72, 0x80}
				got, err := encodeSnapshot(members, sessions, func(w io.Writer) error {
					_, err := w.Write(state)
					return err
				}, hint)
				if err != nil {
					t.Fatal(err)
				}
				want, err := msgpack.Marshal(&snapshotOut{Members: members, Sessions: sessions, State: state})
				if n == 0 {
					want, err = msgpack.Marshal(&snapshotOut{Members: members, Sessions: sessions})
				}
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("members %q, state of %d bytes, hint %d: the encoding differs from msgpack's (%d vs %d bytes)",
						members, n, hint, len(got), len(want))
				}
				cp := &captured{members: members, sessions: sessions, write: func(w io.Writer) error {
					_, err := w.Write(state)
					return err
				}}
				size, write, err := cp.stream()
				if err != nil {
					t.Fatal(err)
				}
				var streamed bytes.Buffer
				if err := write(&streamed); err != nil || size != len(want) || !bytes.Equal(streamed.Bytes(), want) {
					t.Fatalf("state of %d bytes streamed as %d bytes (announced %d), want msgpack's %d: %v",
						n, streamed.Len(), size, len(want), err)
				}
				var d snapshotData
				if err := msgpack.Unmarshal(got, &d); err != nil || !bytes.Equal(d.State, state) {
					t.Fatalf("state of %d bytes does not decode back: %v", n, err)
				}
			}
		}
	}
}

// A state machine whose Capture writes other bytes the second time fails the
// streamed save rather than saving a snapshot that does not match its size.
func TestStreamRefusesAChangingCapture(t *testing.T) {
	calls := 0
	cp := &captured{sessions: []byte{0x80}, write: func(w io.Writer) error {
		calls++
		_, err := w.Write(bytes.Repeat([]byte{1}, 100*calls))
		return err
	}}
	_, write, err := cp.stream()
	if err != nil {
		t.Fatal(err)
	}
	if err := write(io.Discard); err == nil {
		t.Fatal("a capture that wrote 100 bytes, then 200, was streamed")
	}
}

// A snapshot streamed to files restores, streamed from the file, to the
// same state; the newest damaged, the older one is restored.
func TestSnapshotThroughFiles(t *testing.T) {
	dir := t.TempDir()
	files, err := storage.OpenSnapFiles(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := newCore(t, Config{}, storage.NewMemory().Snapshots())
	save := func() {
		t.Helper()
		cp := c.capture()
		if r := role.SaveSnapshot(files, &role.SnapshotJob{Slot: c.Applied(), Rev: c.Rev(), Encode: cp.encode, Stream: cp.stream}); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	step(t, c, &msg.Deliver{First: 1, Values: []*msg.Value{value(put(self, "", "a", "1"), put(2, "", "b", "2"))}})
	save()
	older, _ := c.Snapshot()
	step(t, c, &msg.Deliver{First: 2, Values: []*msg.Value{value(put(self, "", "c", strings.Repeat("3", 70000)))}})
	save()
	newer, _ := c.Snapshot()

	c2, sm2 := newCore(t, Config{}, files)
	if got, _ := c2.Snapshot(); c2.Applied() != 2 || !bytes.Equal(got, newer) {
		t.Fatalf("restored from files: applied %d, state equal %v; want slot 2's", c2.Applied(), bytes.Equal(got, newer))
	}
	checkKey(t, sm2, "b", "2", 2)

	p := filepath.Join(dir, "snap-00000000000000000002.bin")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	c3, _ := newCore(t, Config{}, files)
	if got, _ := c3.Snapshot(); c3.Applied() != 1 || !bytes.Equal(got, older) {
		t.Fatalf("newest damaged: applied %d; want the slot-1 snapshot", c3.Applied())
	}
}
