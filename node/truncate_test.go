package node

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// A replica that was down while the others snapshotted and truncated their
// logs past its applied point cannot catch up by slots: it installs a peer's
// snapshot (sent in chunks), then follows the log from there, and ends with
// the same state as the others. Every acknowledged write stays readable.
func TestReplicaBehindTruncationInstallsSnapshot(t *testing.T) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "nutsdb"
		}
		t.Run(name, func(t *testing.T) {
			var mu sync.Mutex
			stores := map[msg.NodeID]storage.Store{}
			dir := t.TempDir()
			tc := startClusterStore(t, 3, Config{SnapshotEvery: 25}, func(id msg.NodeID) (storage.Store, error) {
				var st storage.Store = storage.NewMemory()
				if durable {
					var err error
					if st, err = storage.OpenDir(filepath.Join(dir, id.String()), "test", id, discard); err != nil {
						return nil, err
					}
				}
				mu.Lock()
				stores[id] = st
				mu.Unlock()
				return st, nil
			})
			ctx := ctxFor(t, 60*time.Second)
			l := tc.leader()
			a := newAcked()
			put := func(i int) {
				t.Helper()
				key := fmt.Sprintf("k%d", i%50)
				val := fmt.Sprintf("v%d", i)
				r, err := l.Put(ctx, key, []byte(val), kv.Cond{})
				if err != nil {
					t.Fatal(err)
				}
				a.add(key, val, r.Rev)
			}
			for i := 0; i < 30; i++ {
				put(i)
			}
			tc.converge()
			var lagger msg.NodeID
			for _, id := range tc.IDs() {
				if id != l.ID() {
					lagger = id
					break
				}
			}
			stoppedAt := tc.Node(lagger).Status().Applied
			if err := tc.StopNode(ctx, lagger); err != nil {
				t.Fatal(err)
			}
			// One command per slot here: 300 writes pass a dozen snapshots.
			for i := 30; i < 330; i++ {
				put(i)
			}
			lst := stores[l.ID()]
			if base := lst.Chosen().Base(); base <= stoppedAt {
				t.Fatalf("leader's chosen log base %d, not past the stopped replica's %d", base, stoppedAt)
			}
			st, err := lst.Acceptor().Load()
			if err != nil {
				t.Fatal(err)
			}
			if st.Truncated <= stoppedAt {
				t.Fatalf("leader's acceptor truncated through %d, not past %d", st.Truncated, stoppedAt)
			}

			if err := tc.StartNode(ctx, lagger); err != nil {
				t.Fatal(err)
			}
			for i := 330; i < 340; i++ {
				put(i)
			}
			tc.converge()
			ls := stores[lagger]
			snap, ok, err := ls.Snapshots().Load()
			if err != nil || !ok || snap.Slot <= stoppedAt {
				t.Fatalf("restarted replica's snapshot at %d (%v, %v), want past %d", snap.Slot, ok, err, stoppedAt)
			}
			if base := ls.Chosen().Base(); base <= stoppedAt {
				t.Fatalf("restarted replica's chosen log starts after %d: it did not install a snapshot past %d", base, stoppedAt)
			}
			for _, n := range tc.Nodes() {
				if d, d0 := tc.recs[n.ID()].Digest(), tc.recs[l.ID()].Digest(); d != d0 {
					t.Fatalf("replica %d state digest %x differs from the leader's %x", n.ID(), d, d0)
				}
			}
			a.check(tc)
			// And it serves: make it the leader and write through it.
			tc.Node(lagger).Campaign()
			nl, err := tc.WaitLeader(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nl.Put(ctx, "after", []byte("x"), kv.Cond{}); err != nil {
				t.Fatal(err)
			}
			tc.converge()
		})
	}
}
