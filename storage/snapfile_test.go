package storage

import (
	"errors"
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
