package nutsfix

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
func FuzzParseHeader(f *testing.F) {
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
		e, ok := parseHeader(b[:min(len(b), hdrMax)])
		if !ok {
			t.Fatalf("a header nutsdb wrote does not parse: %x", b[:min(len(b), hdrMax)])
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
func FuzzParseHeaderGarbage(f *testing.F) {
	f.Add([]byte{})
	f.Add(hugeGarbage())
	f.Fuzz(func(t *testing.T, b []byte) {
		e, ok := parseHeader(b)
		if ok && e.hdr > len(b) {
			t.Fatalf("header of %d bytes in %d", e.hdr, len(b))
		}
		_, _, _ = parseBucket(b)
	})
}

// Whatever a crash (or worse) appends after the last entry of a synced DB,
// the scan either refuses with ErrCorrupt or leaves files that nutsdb opens,
// without panicking, with every entry that was there before.
func FuzzRepairTail(f *testing.F) {
	f.Add([]byte{1, 2, 3})
	f.Add(hugeGarbage())
	f.Add(encodeEntry(1, 9, nutsdb.Committed, key(9), []byte("a whole extra entry")))
	f.Add(encodeEntry(1, 9, nutsdb.UnCommitted, key(9), []byte("an uncommitted entry")))
	f.Add(append(make([]byte, 40), encodeEntry(1, 9, nutsdb.Committed, key(9), []byte("after zeros"))...))
	f.Fuzz(func(t *testing.T, tail []byte) {
		dir := t.TempDir()
		meta := (&nutsdb.Bucket{Meta: &nutsdb.BucketMeta{Op: nutsdb.BucketInsertOperation}, Id: 1,
			Ds: nutsdb.DataStructureBTree, Name: testBucket}).Encode()
		must(t, os.WriteFile(filepath.Join(dir, nutsdb.BucketStoreFileName), meta, 0o644))
		var data []byte
		for i := uint64(1); i <= 3; i++ {
			data = append(data, encodeEntry(1, 100+i, nutsdb.Committed, key(i), []byte("value"))...)
		}
		data = append(data, tail...)
		must(t, os.WriteFile(filepath.Join(dir, "0"+nutsdb.DataSuffix), data, 0o644))

		logger := slog.New(slog.DiscardHandler)
		if _, err := scanDir(dir, scanOpts{strict: true, repair: true, buckets: []string{testBucket}}, logger); err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("scan: %v", err)
			}
			return
		}
		opt := nutsdb.DefaultOptions
		opt.Dir = dir
		opt.SegmentSize = 1 << 20
		opt.MergeInterval = 0
		db, err := guardedOpen(opt)
		if err != nil {
			t.Fatalf("nutsdb cannot open what the scan passed: %v", err)
		}
		defer Close(db, dir)
		err = View(db, func(tx *nutsdb.Tx) error {
			for i := uint64(1); i <= 3; i++ {
				if v, err := tx.Get(testBucket, key(i)); err != nil || string(v) != "value" {
					t.Errorf("key %d: %q, %v", i, v, err)
				}
			}
			return nil
		})
		must(t, err)
	})
}
