package storage

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSnapFilesRoundTripAndKeepTwo(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSnapFiles(dir, nil)
	must(t, err)
	if _, ok, err := s.Load(); ok || err != nil {
		t.Fatalf("empty dir: ok=%v err=%v", ok, err)
	}
	for slot := uint64(1); slot <= 4; slot++ {
		must(t, s.Save(Snapshot{Slot: slot * 10, Rev: slot, Data: []byte(strings.Repeat("x", int(slot)))}))
	}
	got, ok, err := s.Load()
	if err != nil || !ok || got.Slot != 40 || got.Rev != 4 || string(got.Data) != "xxxx" {
		t.Fatalf("Load = %+v %v %v, want the slot-40 snapshot", got, ok, err)
	}
	names, _ := s.list()
	if len(names) != 2 {
		t.Fatalf("%d snapshot files kept, want 2: %v", len(names), names)
	}
}

func TestSnapFilesDamage(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSnapFiles(dir, nil)
	must(t, err)
	must(t, s.Save(Snapshot{Slot: 1, Rev: 1, Data: []byte("older")}))
	must(t, s.Save(Snapshot{Slot: 2, Rev: 2, Data: []byte("newer")}))
	newest := filepath.Join(dir, snapName(2))
	b, _ := os.ReadFile(newest)
	b[len(b)/2] ^= 0xff
	must(t, os.WriteFile(newest, b, 0o644))
	// The damaged newest is skipped for the older one.
	got, ok, err := s.Load()
	if err != nil || !ok || string(got.Data) != "older" {
		t.Fatalf("Load with a damaged newest = %+v %v %v, want the older snapshot", got, ok, err)
	}
	// Both damaged (one truncated): refuse, naming the files.
	older := filepath.Join(dir, snapName(1))
	must(t, os.Truncate(older, 10))
	_, _, err = s.Load()
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), older) || !strings.Contains(err.Error(), newest) {
		t.Fatalf("Load with every snapshot damaged: %v, want ErrCorrupt naming both files", err)
	}
	// A crash during Save leaves a .tmp file; reopening removes it.
	must(t, os.WriteFile(filepath.Join(dir, snapName(3)+".tmp"), []byte("half"), 0o644))
	_, err = OpenSnapFiles(dir, nil)
	must(t, err)
	if m, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(m) != 0 {
		t.Fatalf("leftover temporary files: %v", m)
	}
}

// SaveStream writes a snapshot as it comes, in the format Save writes; one
// whose writer does not write the size announced, or fails, leaves the
// previous snapshot the latest and no file behind.
func TestSnapFilesSaveStream(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSnapFiles(dir, nil)
	must(t, err)
	data := []byte(strings.Repeat("snapshot ", 100000))
	writeIn := func(chunk int) func(w io.Writer) error {
		return func(w io.Writer) error {
			for i := 0; i < len(data); i += chunk {
				if _, err := w.Write(data[i:min(i+chunk, len(data))]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	must(t, s.SaveStream(5, 7, len(data), writeIn(1000)))
	got, ok, err := s.Load()
	if err != nil || !ok || got.Slot != 5 || got.Rev != 7 || string(got.Data) != string(data) {
		t.Fatalf("Load = slot %d rev %d, %d bytes, %v %v; want slot 5 rev 7 and the %d bytes written",
			got.Slot, got.Rev, len(got.Data), ok, err, len(data))
	}
	if err := s.SaveStream(9, 8, len(data)+1, writeIn(4096)); err == nil {
		t.Fatal("a snapshot shorter than announced was saved")
	}
	if err := s.SaveStream(9, 8, len(data), func(io.Writer) error { return errors.New("encode failed") }); err == nil {
		t.Fatal("a failed write saved a snapshot")
	}
	if got, _, _ := s.Load(); got.Slot != 5 {
		t.Fatalf("latest snapshot at slot %d after failed saves, want 5", got.Slot)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp")); len(tmps) != 0 {
		t.Fatalf("failed saves left %v", tmps)
	}
}

// LoadHead returns the head of the latest snapshot, checked whole: damage
// past the head makes it fall back to the older snapshot, as Load does.
func TestSnapFilesLoadHead(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenSnapFiles(dir, nil)
	must(t, err)
	older := []byte(strings.Repeat("o", 5000))
	newer := []byte(strings.Repeat("n", 5000))
	must(t, s.Save(Snapshot{Slot: 1, Rev: 1, Data: older}))
	must(t, s.Save(Snapshot{Slot: 2, Rev: 2, Data: newer}))
	got, ok, err := s.LoadHead(100)
	if err != nil || !ok || got.Slot != 2 || string(got.Data) != string(newer[:100]) {
		t.Fatalf("LoadHead(100) = slot %d, %d bytes, %v %v; want slot 2's first 100 bytes", got.Slot, len(got.Data), ok, err)
	}
	if got, _, _ := s.LoadHead(1 << 20); string(got.Data) != string(newer) {
		t.Fatalf("LoadHead past the end: %d bytes, want all %d", len(got.Data), len(newer))
	}
	// Damage far past the head.
	p := filepath.Join(dir, snapName(2))
	b, err := os.ReadFile(p)
	must(t, err)
	b[len(b)-100] ^= 0xff
	must(t, os.WriteFile(p, b, 0o644))
	got, ok, err = s.LoadHead(100)
	if err != nil || !ok || got.Slot != 1 || string(got.Data) != string(older[:100]) {
		t.Fatalf("LoadHead(100) with the newest damaged = slot %d, %v %v; want slot 1", got.Slot, ok, err)
	}
}
