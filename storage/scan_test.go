package storage

import "testing"

// scanWindows covers its range once, in order, and after the first window
// reads about nutsReadBytes per window whatever the records' size: a restart
// must not hold a whole log's values at once.
func TestScanWindowsAreBoundedByBytes(t *testing.T) {
	for _, size := range []int{100, 64 << 10, 1 << 20, 8 << 20} {
		const first, last = 5, 3000
		next, windows := uint64(first), 0
		err := scanWindows(first, last, func(lo, hi uint64) (int, error) {
			if lo != next || hi < lo || hi > last {
				t.Fatalf("size %d: window %d..%d, want one from %d up to %d", size, lo, hi, next, last)
			}
			n := int(hi-lo+1) * size
			if windows > 0 && n > max(nutsReadBytes, size) {
				t.Fatalf("size %d: window %d..%d reads %d bytes", size, lo, hi, n)
			}
			next, windows = hi+1, windows+1
			return n, nil
		})
		if err != nil || next != last+1 {
			t.Fatalf("size %d: covered up to %d, %v", size, next-1, err)
		}
		if size == 100 && windows > 10 {
			t.Fatalf("small records in %d windows", windows)
		}
	}
	if err := scanWindows(1, 0, func(lo, hi uint64) (int, error) {
		t.Fatalf("window %d..%d of an empty range", lo, hi)
		return 0, nil
	}); err != nil {
		t.Fatal(err)
	}
}
