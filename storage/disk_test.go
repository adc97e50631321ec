package storage

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rsml-go/rsml/msg"
)

func TestOpenDirLockAndIdentity(t *testing.T) {
	dir := t.TempDir()
	d, err := OpenDir(dir, "demo", 1, nil)
	must(t, err)
	// A second open of the same directory is refused while the first holds it.
	if _, err := OpenDir(dir, "demo", 1, nil); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) {
		t.Fatalf("second open: %v, want ErrLocked naming the directory", err)
	}
	must(t, d.Acceptor().Append(AcceptorRecord{Promised: msg.Ballot{Round: 3, ID: 1}}))
	must(t, d.Close())

	// Wrong cluster or wrong replica: refused, nothing changed.
	if _, err := OpenDir(dir, "other", 1, nil); !errors.Is(err, ErrIdentity) || !strings.Contains(err.Error(), `cluster "demo"`) {
		t.Fatalf("wrong cluster: %v", err)
	}
	if _, err := OpenDir(dir, "demo", 2, nil); !errors.Is(err, ErrIdentity) {
		t.Fatalf("wrong replica: %v", err)
	}
	d, err = OpenDir(dir, "demo", 1, nil)
	must(t, err)
	st, err := d.Acceptor().Load()
	must(t, err)
	if st.Promised != (msg.Ballot{Round: 3, ID: 1}) {
		t.Fatalf("promise after reopen: %v", st.Promised)
	}
	must(t, d.Close())

	// A damaged identity file is named.
	must(t, os.WriteFile(filepath.Join(dir, identityFile), []byte("{garbage"), 0o644))
	if _, err := OpenDir(dir, "demo", 1, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), identityFile) {
		t.Fatalf("damaged identity: %v", err)
	}
	// A directory with data but no identity is not adopted.
	other := t.TempDir()
	must(t, os.WriteFile(filepath.Join(other, "something"), []byte("x"), 0o644))
	if _, err := OpenDir(other, "demo", 1, nil); !errors.Is(err, ErrIdentity) {
		t.Fatalf("foreign directory: %v", err)
	}
}
