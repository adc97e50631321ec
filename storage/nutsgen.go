package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/rsml-go/rsml/internal/nutsfix"
)

// nutsdb never gives space back without its merge, which DESIGN.md rules out
// (it can deadlock Close and keeps deleted files open). A log therefore
// shrinks by generations: the live part is written to a fresh nutsdb
// directory, the file CURRENT is switched to name it (temp file, fsync,
// rename, directory fsync: the commit point), and the old directory is
// removed. A crash before the switch leaves the old generation current and
// the half-built one is removed at the next open; a crash after it leaves an
// old directory that the next open removes.

const (
	nutsCurrentFile = "CURRENT"
	// nutsCompactBytes is how much a generation takes in before the log
	// considers starting a new one.
	nutsCompactBytes = 64 << 20
)

// nutsGens is the set of generations of one log under parent.
type nutsGens struct {
	parent string
	cur    uint64
	logger *slog.Logger
}

func nutsGenPath(parent string, gen uint64) string {
	return filepath.Join(parent, fmt.Sprintf("%08d", gen))
}

// openNutsGens finds the current generation under parent, creating the first
// one's name for a new log, and removes every other generation directory. A
// log without CURRENT (an earlier layout, or a crash before the first switch)
// may hold exactly one generation, which becomes current.
func openNutsGens(parent string, logger *slog.Logger) (*nutsGens, error) {
	if err := nutsfix.MkdirAll(parent); err != nil {
		return nil, fmt.Errorf("storage: log %s: %w", parent, err)
	}
	g := &nutsGens{parent: parent, logger: logger}
	ents, err := os.ReadDir(parent)
	if err != nil {
		return nil, fmt.Errorf("storage: log %s: %w", parent, err)
	}
	var gens []uint64
	for _, e := range ents {
		if e.IsDir() && nutsGenName.MatchString(e.Name()) {
			n, _ := strconv.ParseUint(e.Name(), 10, 64)
			gens = append(gens, n)
		}
	}
	b, err := os.ReadFile(filepath.Join(parent, nutsCurrentFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		switch len(gens) {
		case 0:
			g.cur = 1
		case 1:
			g.cur = gens[0]
		default:
			names := make([]string, len(gens))
			for i, n := range gens {
				names[i] = fmt.Sprintf("%08d", n)
			}
			return nil, fmt.Errorf("%w: log %s holds %d generations (%s) and no %s file naming the current one",
				ErrCorrupt, parent, len(gens), strings.Join(names, ", "), nutsCurrentFile)
		}
		if err := g.writeCurrent(g.cur); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, fmt.Errorf("storage: log %s: %w", parent, err)
	default:
		s := strings.TrimSpace(string(b))
		n, perr := strconv.ParseUint(s, 10, 64)
		if perr != nil || !nutsGenName.MatchString(s) {
			return nil, fmt.Errorf("%w: %s: %q does not name a generation", ErrCorrupt, filepath.Join(parent, nutsCurrentFile), s)
		}
		g.cur = n
		if n > 1 {
			if fi, err := os.Stat(nutsGenPath(parent, n)); err != nil || !fi.IsDir() {
				// A generation is built before CURRENT names it: missing
				// means the directory was lost, and with it synced records.
				return nil, fmt.Errorf("%w: %s names generation %08d, which is missing", ErrCorrupt,
					filepath.Join(parent, nutsCurrentFile), n)
			}
		}
	}
	for _, n := range gens {
		if n != g.cur {
			g.remove(n)
		}
	}
	return g, nil
}

// dir is the current generation's directory.
func (g *nutsGens) dir() string { return nutsGenPath(g.parent, g.cur) }

// prepareNext returns an empty directory for the next generation.
func (g *nutsGens) prepareNext() (string, error) {
	next := nutsGenPath(g.parent, g.cur+1)
	if err := os.RemoveAll(next); err != nil {
		return "", err
	}
	if err := nutsfix.MkdirAll(next); err != nil {
		return "", err
	}
	return next, nil
}

// switchNext makes the next generation current and returns the old one's
// number, for the caller to remove (remove) once it has closed its DB. The
// caller has made the new generation's contents durable.
func (g *nutsGens) switchNext() (uint64, error) {
	if err := g.writeCurrent(g.cur + 1); err != nil {
		return 0, err
	}
	old := g.cur
	g.cur++
	return old, nil
}

// abandonNext removes a next generation that was never switched to.
func (g *nutsGens) abandonNext() { g.remove(g.cur + 1) }

func (g *nutsGens) writeCurrent(n uint64) error {
	p := filepath.Join(g.parent, nutsCurrentFile)
	if err := writeFileSync(p, []byte(fmt.Sprintf("%08d\n", n))); err != nil {
		return fmt.Errorf("storage: log %s: switch to generation %08d: %w", g.parent, n, err)
	}
	return nil
}

// remove deletes generation n's directory; a failure only leaves it for the
// next open to remove. It touches nothing but that directory and the parent's
// entry, so it may run while the log goes on in another generation.
func (g *nutsGens) remove(n uint64) {
	p := nutsGenPath(g.parent, n)
	if err := os.RemoveAll(p); err != nil {
		g.logger.Warn("cannot remove an old log generation", "dir", p, "err", err)
		return
	}
	if err := nutsfix.SyncPath(g.parent); err != nil {
		g.logger.Warn("cannot sync a log directory", "dir", g.parent, "err", err)
	}
}
