package powercut

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/rsml-go/rsml/internal/nutsfix"
)

func install(t *testing.T) (*Recorder, string) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "root")
	if err := os.Mkdir(root, 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := Install(root, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Uninstall)
	return r, root
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func fsync(t *testing.T, p string) {
	t.Helper()
	if err := nutsfix.SyncPath(p); err != nil {
		t.Fatal(err)
	}
}

func want(t *testing.T, p, content string, exists bool) {
	t.Helper()
	b, err := os.ReadFile(p)
	switch {
	case !exists && err == nil:
		t.Fatalf("%s survived the cut with %q; want it gone", p, b)
	case !exists:
	case err != nil:
		t.Fatalf("%s: %v; want %q", p, err, content)
	case string(b) != content:
		t.Fatalf("%s holds %q after the cut; want %q", p, b, content)
	}
}

// The strict POSIX rules: content up to the last fsync of the file, entries
// up to the last fsync of their directory.
func TestCutKeepsOnlyWhatWasSynced(t *testing.T) {
	r, root := install(t)
	a, b, c := filepath.Join(root, "a"), filepath.Join(root, "b"), filepath.Join(root, "c")
	write(t, a, "a1")
	fsync(t, a)
	fsync(t, root)
	write(t, a, "a2 unsynced")
	write(t, c, "c entry synced, content not")
	fsync(t, root)
	write(t, c, "c later")
	write(t, b, "b synced, its entry not")
	fsync(t, b)
	r.Cut()
	fsync(t, a) // after the cut: counts for nothing
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	want(t, a, "a1", true)
	want(t, b, "", false)
	want(t, c, "", true)
}

// A file written, synced and renamed into place keeps its content under the
// new name once the directory is synced; before that the old name stands.
func TestCutFollowsRenames(t *testing.T) {
	r, root := install(t)
	tmp, final := filepath.Join(root, "f.tmp"), filepath.Join(root, "f")
	write(t, tmp, "v1")
	fsync(t, tmp)
	if err := os.Rename(tmp, final); err != nil {
		t.Fatal(err)
	}
	fsync(t, root)
	write(t, tmp, "v2")
	fsync(t, tmp)
	if err := os.Rename(tmp, final); err != nil { // replaces v1; the directory is not synced
		t.Fatal(err)
	}
	r.Cut()
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	want(t, final, "v1", true)
	want(t, tmp, "", false)
}

// Holes stay holes and the size is kept; a second cut after a restore starts
// from the restored tree.
func TestCutKeepsSparseFilesAndCutsAgain(t *testing.T) {
	r, root := install(t)
	p := filepath.Join(root, "seg")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 20); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte("head"), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	fsync(t, p)
	fsync(t, root)
	r.Cut()
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Size() != 1<<20 {
		t.Fatalf("restored segment: %v, %v; want size %d", fi, err, 1<<20)
	}
	b, _ := os.ReadFile(p)
	if string(b[:4]) != "head" || b[5] != 0 {
		t.Fatalf("restored segment starts %q", b[:8])
	}
	// Restored files count as durable; what follows is lost again.
	g, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.WriteAt([]byte("tail"), 4); err != nil {
		t.Fatal(err)
	}
	g.Close()
	r.Cut()
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(p)
	if string(b[:8]) != "head\x00\x00\x00\x00" {
		t.Fatalf("after the second cut the segment starts %q; want the unsynced tail gone", b[:8])
	}
}

// Paths outside the root are synced for real and recorded nowhere.
func TestOutsideRootIsNotRecorded(t *testing.T) {
	r, _ := install(t)
	other := filepath.Join(t.TempDir(), "x")
	write(t, other, "x")
	fsync(t, other)
	if n := r.Syncs(); n != 0 {
		t.Fatalf("%d syncs recorded for a path outside the root", n)
	}
}

// CutAfter cuts the power once a matching fsync has completed: that fsync
// counts, the ones after it do not.
func TestCutAfterAMatchingSync(t *testing.T) {
	r, root := install(t)
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	write(t, a, "a1")
	write(t, b, "b1")
	fsync(t, root)
	r.CutAfter(func(p string) bool { return p == b })
	fsync(t, a)
	fsync(t, b) // completes, then the power goes
	write(t, a, "a2")
	fsync(t, a)
	if err := r.Restore(); err != nil {
		t.Fatal(err)
	}
	want(t, a, "a1", true)
	want(t, b, "b1", true)
}
