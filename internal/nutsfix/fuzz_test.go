package storage

import (
	"bytes"
	"errors"
	"hash/crc32"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/nutsdb/nutsdb"
)

// The scan's header parser reads what nutsdb's encoder writes, field for
// field, and its CRC matches.
func FuzzNutsParseHeader(f *testing.F) {
	f.Add(uint64(1700000000000), uint64(1), uint64(42), []byte("k"), []byte("v"))
	f.Add(uint64(1), uint64(1<<63), uint64(1<<40), bytes.Repeat([]byte{0xff}, 300), []byte{})
	f.Fuzz(func(t *testing.T, ts, tx, bucket uint64, key, val []byte) {
		if len(key) == 0 || ts == 0 {
			return
		}
		meta := nutsdb.NewMetaData().WithTimeStamp(ts).WithKeySize(uint32(len(key))).WithValueSize(uint32(len(val))).
			WithFlag(nutsdb.DataSetFlag).WithTTL(nutsdb.Persistent).WithStatus(nutsdb.Committed).
			WithDs(nutsdb.DataStructureBTree).WithTxID(tx).WithBucketId(bucket)
		b := nutsdb.NewEntry().WithKey(key).WithValue(val).WithMeta(meta).Encode()
		e, ok := nutsParseHeader(b[:min(len(b), nutsHdrMax)])
		if !ok {
			t.Fatalf("a header nutsdb wrote does not parse: %x", b[:min(len(b), nutsHdrMax)])
		}
		if e.ts != ts || e.txID != tx || e.bucket != bucket || e.ksz != uint64(len(key)) || e.vsz != uint64(len(val)) ||
			e.status != uint64(nutsdb.Committed) || e.ds != uint64(nutsdb.DataStructureBTree) || e.size() != int64(len(b)) ||
			int64(e.hdr) != meta.Size() {
			t.Fatalf("parsed %+v from an entry of %d bytes", e, len(b))
		}
		if crc32.ChecksumIEEE(b[4:]) != e.crc {
			t.Fatal("crc mismatch")
		}
	})
}

// Arbitrary bytes never make the parser panic.
func FuzzNutsParseHeaderGarbage(f *testing.F) {
	f.Add([]byte{})
	f.Add(nutsHugeGarbage())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := nutsParseHeader(b)
		if ok && e.hdr > len(b) {
			t.Fatalf("header of %d bytes in %d", e.hdr, len(b))
		}
		_, _, _ = nutsParseBucket(b)
	})
}

// Whatever a crash (or worse) appends after the last entry of a synced DB,
// the scan either refuses with ErrCorrupt or leaves files that nutsdb opens,
// without panicking, with every entry that was there before.
func FuzzNutsRepairTail(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add(nutsHugeGarbage())
	f.Add(nutsEncode(1, 9, nutsdb.Committed, nutsKey(9), []byte("a whole extra entry")))
	f.Add(nutsEncode(1, 9, nutsdb.UnCommitted, nutsKey(9), []byte("an uncommitted entry")))
	f.Add(append(make([]byte, 40), nutsEncode(1, 9, nutsdb.Committed, nutsKey(9), []byte("after zeros"))...))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		meta := (&nutsdb.Bucket{Meta: &nutsdb.BucketMeta{Op: nutsdb.BucketInsertOperation}, Id: 1,
			Ds: nutsdb.DataStructureBTree, Name: nutsRecords}).Encode()
		must(t, os.WriteFile(filepath.Join(dir, nutsdb.BucketStoreFileName), meta, 0o644))
		var data []byte
		for i := uint64(1); i <= 3; i++ {
			data = append(data, nutsEncode(1, 100+i, nutsdb.Committed, nutsKey(i), []byte("value"))...)
		}
		data = append(data, tail...)
		must(t, os.WriteFile(filepath.Join(dir, "0"+nutsdb.DataSuffix), data, 0o644))

		logger := slog.New(slog.DiscardHandler)
		if _, err := nutsScanDir(dir, nutsScanOpts{strict: true, repair: true, buckets: []string{nutsRecords}}, logger); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("scan: %v", err)
			}
			return
		}
		opt := nutsdb.DefaultOptions
		opt.Dir = dir
		opt.SegmentSize = 1 << 20
		opt.MergeInterval = 0
		db, err := nutsGuardedOpen(opt)
		if err != nil {
			t.Fatalf("nutsdb cannot open what the scan passed: %v", err)
		}
		defer nutsCloseDB(db, dir)
		err = nutsView(db, func(tx *nutsdb.Tx) error {
			for i := uint64(1); i <= 3; i++ {
				if v, err := tx.Get(nutsRecords, nutsKey(i)); err != nil || string(v) != "value" {
					t.Errorf("key %d: %q, %v", i, v, err)
				}
			}
			return nil
		})
		must(t, err)
	})
}
