package nutsfix

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nutsdb/nutsdb"
	"go.uber.org/goleak"
)

// The test DBs hold records as the acceptor log does: key(i) -> recValue(i)
// in testBucket, one Put per transaction, and a second bucket.
const (
	testBucket  = "records"
	otherBucket = "ballot"
)

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func key(n uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, n)
	return k
}

// recValue is record i's value: 64 to 163 bytes, so that the middle of an
// entry is in its value.
func recValue(i uint64) []byte {
	v := bytes.Repeat([]byte{byte(i)}, 64+int(i%100))
	copy(v, fmt.Sprintf("record %d;", i))
	return v
}

// leakCheck verifies, after every other cleanup of the test, that nothing
// but nutsdb's one leftover goroutine per closed DB (race builds) is still
// running. Call it first in the test.
func leakCheck(t *testing.T) {
	t.Helper()
	t.Cleanup(func() { goleak.VerifyNone(t, goleak.IgnoreTopFunction(LeftoverGoroutine)) })
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// syncedSpec is a DB as the acceptor log opens it.
func syncedSpec(dir string) Spec {
	return Spec{Dir: dir, Sync: true, Strict: true, Buckets: []string{testBucket, otherBucket}, SegmentSize: 1 << 30}
}

// testDB is an open DB that the test closes at most once, and its cleanup
// closes if the test did not.
type testDB struct {
	*nutsdb.DB
	dir  string
	once sync.Once
	err  error
}

func (d *testDB) close() error {
	d.once.Do(func() { d.err = Close(d.DB, d.dir) })
	return d.err
}

func openT(t *testing.T, s Spec) *testDB {
	t.Helper()
	db, err := Open(s, testLogger(t))
	if err != nil {
		t.Fatalf("open %s: %v", s.Dir, err)
	}
	d := &testDB{DB: db, dir: s.Dir}
	// A test that fails half-way must not leave its DB's goroutines to the
	// leak checks of the tests after it.
	t.Cleanup(func() { _ = d.close() })
	return d
}

func putRec(db *nutsdb.DB, i uint64) error {
	return Update(db, func(tx *nutsdb.Tx) error {
		return tx.Put(testBucket, key(i), recValue(i), nutsdb.Persistent)
	})
}

func putRecs(t *testing.T, db *nutsdb.DB, from, to uint64) {
	t.Helper()
	for i := from; i <= to; i++ {
		must(t, putRec(db, i))
	}
}

// checkRecs checks that db holds records 1..n and nothing else.
func checkRecs(t *testing.T, db *nutsdb.DB, n uint64) {
	t.Helper()
	err := View(db, func(tx *nutsdb.Tx) error {
		keys, err := tx.GetKeys(testBucket)
		if err != nil {
			return err
		}
		if uint64(len(keys)) != n {
			return fmt.Errorf("%d records, want %d", len(keys), n)
		}
		for i := uint64(1); i <= n; i++ {
			v, err := tx.Get(testBucket, key(i))
			if err != nil {
				return fmt.Errorf("record %d: %w", i, err)
			}
			if !bytes.Equal(v, recValue(i)) {
				return fmt.Errorf("record %d holds %q", i, v)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("after %d records: %v", n, err)
	}
}

func dataFile(dir string, id int) string {
	return filepath.Join(dir, strconv.Itoa(id)+nutsdb.DataSuffix)
}

func offsets(t *testing.T, path string) ([]int64, int64) {
	t.Helper()
	offs, end, err := EntryOffsets(path)
	must(t, err)
	return offs, end
}

func corruptNaming(t *testing.T, err error, file string) {
	t.Helper()
	if err == nil {
		t.Fatalf("open succeeded; want an ErrCorrupt error naming %s", file)
	}
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), file) {
		t.Fatalf("open: %v; want an ErrCorrupt error naming %s", err, file)
	}
}

func truncateBy(k int64) func(t *testing.T, path string, last, end int64) {
	return func(t *testing.T, path string, last, end int64) { must(t, os.Truncate(path, end-k)) }
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	_, err = f.WriteAt(b, off)
	must(t, err)
	must(t, f.Close())
}

func flipAt(t *testing.T, path string, off int64) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	b := []byte{0}
	_, err = f.ReadAt(b, off)
	must(t, err)
	b[0] ^= 0x5a
	_, err = f.WriteAt(b, off)
	must(t, err)
	must(t, f.Close())
}

// hugeGarbage is an entry header whose varints overflow: nutsdb v1.1.0's
// Open panics on it (slice bounds out of range).
func hugeGarbage() []byte {
	g := bytes.Repeat([]byte{0xff}, 64)
	binary.LittleEndian.PutUint32(g, 12345)
	return g
}

// encodeEntry builds a nutsdb entry with nutsdb's own encoder.
func encodeEntry(bucket, tx uint64, status uint16, key, val []byte) []byte {
	meta := nutsdb.NewMetaData().WithTimeStamp(uint64(time.Now().UnixMilli())).WithKeySize(uint32(len(key))).
		WithValueSize(uint32(len(val))).WithFlag(nutsdb.DataSetFlag).WithTTL(nutsdb.Persistent).WithStatus(status).
		WithDs(nutsdb.DataStructureBTree).WithTxID(tx).WithBucketId(bucket)
	return nutsdb.NewEntry().WithKey(key).WithValue(val).WithMeta(meta).Encode()
}
