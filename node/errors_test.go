package node

import (
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// Each executor error code maps to its one sentinel; the read failure keeps
// the state machine's message.
func TestExecutorCodesMapToSentinels(t *testing.T) {
	for code, want := range map[msg.ErrCode]error{
		msg.ErrStaleRequest:   ErrStaleRequest,
		msg.ErrSessionExpired: ErrSessionExpired,
		msg.ErrNoReader:       ErrNoReader,
		msg.ErrReadFailed:     ErrReadFailed,
	} {
		if err := codeErr(code, "the detail"); !errors.Is(err, want) {
			t.Errorf("code %v: %v, want %v", code, err, want)
		}
	}
	if err := codeErr(msg.ErrReadFailed, "bad query"); !strings.Contains(err.Error(), "bad query") {
		t.Errorf("a read failure lost its detail: %v", err)
	}
	if err := codeErr(msg.ErrNone, ""); err != nil {
		t.Errorf("no error: %v", err)
	}
	if err := codeErr(200, ""); err == nil {
		t.Error("an unknown code was taken for success")
	}
}

// writeOnly is a state machine without Read.
type writeOnly struct{ s *kv.Store }

func (w writeOnly) Apply(rev uint64, cmd []byte) []byte { return w.s.Apply(rev, cmd) }
func (w writeOnly) Snapshot(wr io.Writer) error         { return w.s.Snapshot(wr) }
func (w writeOnly) Restore(r io.Reader) error           { return w.s.Restore(r) }

func TestReadWithoutReaderIsErrNoReader(t *testing.T) {
	tc := startCluster(t, 3, Config{}) // kv.Store: it serves reads
	c, err := StartCluster(ctxFor(t, 10*time.Second), ClusterConfig{Nodes: 1,
		NewStateMachine: func(msg.NodeID) executor.StateMachine { return writeOnly{kv.New()} },
		Template:        Config{Logger: testLogger()}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(ctxFor(t, 10*time.Second)) })
	n, err := c.WaitLeader(ctxFor(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Read(ctxFor(t, 5*time.Second), kv.Get("k")); !errors.Is(err, ErrNoReader) {
		t.Fatalf("Read on a state machine without Read: %v, want ErrNoReader", err)
	}
	if _, err := n.Read(ctxFor(t, 5*time.Second), []byte("junk")); !errors.Is(err, ErrNoReader) {
		t.Fatalf("Read: %v", err)
	}
	if _, err := tc.leader().Read(ctxFor(t, 5*time.Second), []byte("junk")); !errors.Is(err, ErrReadFailed) || !strings.Contains(err.Error(), "bad command") {
		t.Fatalf("a query the store refuses: %v, want ErrReadFailed with the store's message", err)
	}
}
