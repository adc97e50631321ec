package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/rsml-go/rsml/internal/nutsfix"
	"github.com/rsml-go/rsml/msg"
)

// Errors of OpenDir that callers branch on.
var (
	// ErrLocked: another process (or another open in this one) uses the
	// data directory. It is nutsfix's, which refuses a second open of a
	// nutsdb directory in this process with it.
	ErrLocked = nutsfix.ErrLocked
	// ErrIdentity: the data directory belongs to another cluster or replica.
	ErrIdentity = errors.New("storage: data directory belongs to another replica")
)

const identityFile = "IDENTITY"

type identity struct {
	Format  int    `json:"format"`
	Cluster string `json:"cluster"`
	Replica uint32 `json:"replica"`
}

// Disk is a replica's durable Store in a data directory: a lock file, an
// identity file naming the cluster and replica, the nutsdb logs and the
// snapshot files.
type Disk struct {
	dir   string
	lock  *os.File
	nuts  *Nuts
	snaps *SnapFiles
}

// DirOption changes how OpenDir sets up the logs.
type DirOption func(*nutsOptions)

// WithCompactBytes sets how much a log generation takes in before the log
// moves its live part to a new one (default 64 MiB). Smaller bounds the disk
// more tightly, at the cost of more frequent rewrites.
func WithCompactBytes(n int64) DirOption {
	return func(o *nutsOptions) { o.compactBytes = n }
}

// OpenDir opens (creating it if needed) the data directory of replica id of
// cluster. It refuses a directory another process holds, one that belongs to
// another cluster or replica, and damaged files it cannot repair without
// breaking a promise, with an error that names the file.
func OpenDir(dir, cluster string, id msg.NodeID, logger *slog.Logger, opts ...DirOption) (*Disk, error) {
	if logger == nil {
		logger = slog.Default()
	}
	// Synced up the tree: a directory that vanishes in a power cut would make
	// the replica come back blank, free to contradict what it answered.
	if err := nutsfix.MkdirAll(dir); err != nil {
		return nil, fmt.Errorf("storage: data directory %s: %w", dir, err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	d := &Disk{dir: dir, lock: lock}
	if err := checkIdentity(dir, cluster, id); err != nil {
		d.unlock()
		return nil, err
	}
	o := nutsDefaults()
	for _, f := range opts {
		f(&o)
	}
	if d.nuts, err = openNuts(filepath.Join(dir, "logs"), logger, o); err != nil {
		d.unlock()
		return nil, err
	}
	if d.snaps, err = OpenSnapFiles(filepath.Join(dir, "snapshots"), logger); err != nil {
		_ = d.nuts.Close()
		d.unlock()
		return nil, err
	}
	return d, nil
}

func lockDir(dir string) (*os.File, error) {
	p := filepath.Join(dir, "LOCK")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("storage: lock %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another process (lock file %s)", ErrLocked, dir, p)
		}
		return nil, fmt.Errorf("storage: lock %s: %w", p, err)
	}
	return f, nil
}

func checkIdentity(dir, cluster string, id msg.NodeID) error {
	p := filepath.Join(dir, identityFile)
	want := identity{Format: 1, Cluster: cluster, Replica: uint32(id)}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if e.Name() != "LOCK" {
				return fmt.Errorf("%w: %s has data but no %s file; refusing to guess whose it is", ErrIdentity, dir, identityFile)
			}
		}
		out, _ := json.Marshal(want)
		if err := writeFileSync(p, out, []byte("\n")); err != nil {
			return fmt.Errorf("storage: write %s: %w", p, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("storage: read %s: %w", p, err)
	}
	var got identity
	if err := json.Unmarshal(b, &got); err != nil || got.Format == 0 {
		return fmt.Errorf("%w: %s is not a valid identity file", ErrCorrupt, p)
	}
	if got.Format != want.Format {
		return fmt.Errorf("%w: %s has format %d, this version reads %d", ErrIdentity, p, got.Format, want.Format)
	}
	if got.Cluster != want.Cluster || got.Replica != want.Replica {
		return fmt.Errorf("%w: %s belongs to replica %d of cluster %q, not replica %d of cluster %q",
			ErrIdentity, dir, got.Replica, got.Cluster, want.Replica, want.Cluster)
	}
	return nil
}

func (d *Disk) unlock() {
	if d.lock != nil {
		_ = syscall.Flock(int(d.lock.Fd()), syscall.LOCK_UN)
		d.lock.Close()
		d.lock = nil
	}
}

// Proposer returns the durable ballot log.
func (d *Disk) Proposer() BallotLog { return d.nuts.Proposer() }

// Acceptor returns the durable acceptor log.
func (d *Disk) Acceptor() AcceptorLog { return d.nuts.Acceptor() }

// Chosen returns the chosen-value log.
func (d *Disk) Chosen() ChosenLog { return d.nuts.Chosen() }

// Snapshots returns the snapshot files.
func (d *Disk) Snapshots() SnapshotStore { return d.snaps }

// Close closes the logs and the snapshots and releases the directory.
func (d *Disk) Close() error {
	err := d.nuts.Close()
	d.snaps.close()
	d.unlock()
	return err
}
