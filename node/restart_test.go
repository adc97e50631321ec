package node

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// TestRestartTime measures how long a replica takes from opening its data
// directory to having applied everything it holds: a snapshot of
// RSML_RESTART_KEYS keys (default 20000; the closing note of issue 4 gives
// 1000000) with 128-byte values, then 10000 chosen slots after it that the
// executor replays. It checks the restored state, so it is a test as well as
// a measurement.
func TestRestartTime(t *testing.T) {
	keys := 20000
	if s := os.Getenv("RSML_RESTART_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("RSML_RESTART_KEYS=%q", s)
		}
		keys = n
	}
	const tail = 10000
	dir := filepath.Join(t.TempDir(), "replica")
	val := make([]byte, 128)

	// Build the directory as a replica that applied keys puts would leave
	// it: the puts in slots of 1000, a snapshot at the end, then the tail.
	build := time.Now()
	d, err := storage.OpenDir(dir, "restart", 1, discard)
	if err != nil {
		t.Fatal(err)
	}
	sm := kv.New()
	ex, err := executor.New(executor.Config{ID: 1, SnapshotEvery: uint64(keys)}, sm, d.Snapshots())
	if err != nil {
		t.Fatal(err)
	}
	drv, _, err := role.NewSync(ex, d) // saves the snapshot when the executor asks
	if err != nil {
		t.Fatal(err)
	}
	var slot uint64
	for i := 0; i < keys; {
		v := &msg.Value{}
		for ; i < keys && len(v.Cmds) < 1000; i++ {
			v.Cmds = append(v.Cmds, msg.Command{Data: kv.Put(fmt.Sprintf("key-%08d", i), val)})
		}
		slot++
		if _, err := drv.Step(&msg.Deliver{First: slot, Values: []*msg.Value{v}}); err != nil {
			t.Fatal(err)
		}
	}
	snap, ok, err := d.Snapshots().Load()
	if err != nil || !ok || snap.Slot != slot {
		t.Fatalf("snapshot at %d (%v, %v), want %d", snap.Slot, ok, err, slot)
	}
	if err := d.Chosen().Reset(slot); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < tail; i++ {
		slot++
		v := &msg.Value{Cmds: []msg.Command{{Data: kv.Put(fmt.Sprintf("tail-%d", i%100), val)}}}
		if err := d.Chosen().Append(slot, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("built a data directory with %d keys (snapshot %d MiB) and %d slots after it in %v",
		keys, len(snap.Data)>>20, tail, time.Since(build).Round(time.Millisecond))

	start := time.Now()
	d, err = storage.OpenDir(dir, "restart", 1, discard)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	opened := time.Since(start)
	restored := kv.New()
	n, err := Start(ctxFor(t, time.Minute), Config{ID: 1, Peers: map[msg.NodeID]string{1: "r1"}, Store: d,
		StateMachine: restored, Logger: discard, SnapshotEvery: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop(ctxFor(t, 10*time.Second))
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for n.Status().Applied < slot {
		select {
		case <-tick.C:
		case <-ctxFor(t, time.Minute).Done():
			t.Fatalf("applied %d of %d after a minute", n.Status().Applied, slot)
		}
	}
	total := time.Since(start)
	t.Logf("restart with %d keys: open %v, applied all %d slots after %v", keys, opened.Round(time.Millisecond), slot, total.Round(time.Millisecond))
	if got, want := restored.Digest(), sm.Digest(); keys > 0 && got == want {
		t.Fatal("the restored state equals the snapshot's, without the tail")
	}
	if r := restored.Get(fmt.Sprintf("key-%08d", keys-1)); !r.Found || r.Rev != uint64(keys) {
		t.Fatalf("last snapshot key: found %v rev %d, want rev %d", r.Found, r.Rev, keys)
	}
	if r := restored.Get("tail-99"); !r.Found || r.Rev != uint64(keys+tail) {
		t.Fatalf("last tail key: found %v rev %d, want rev %d", r.Found, r.Rev, keys+tail)
	}
}
