package sim

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/rsml-go/rsml/internal/linearize"
	"github.com/rsml-go/rsml/msg"
)

// The run's phases after the chaos: a liveness write, every replica
// catching up with it, final reads of every key, and a settle until the
// replicas agree on the applied point.
type stage uint8

const (
	chaos stage = iota
	live
	converge
	finalReads
	settle
)

type control struct {
	stage    stage
	done     bool
	healAt   int64
	deadline int64
	liveSlot uint64
}

// liveKey is the key of the liveness write; clients never use it otherwise.
const liveKey = "live"

// checkTimeout bounds porcupine; the histories of a run are small, so a
// timeout means something odd, and it fails the run as inconclusive.
const checkTimeout = 30 * time.Second

func (s *sim) startLiveness() {
	s.ctl.stage = live
	s.ctl.healAt = s.now
	for _, c := range s.clients {
		c.stopped = true
	}
	c := s.newClient(1000)
	c.script = []linearize.Input{{Kind: linearize.Put, Key: liveKey, Value: "after-heal"}}
	c.onDone = func(_ *client, o *op, out linearize.Output, ok bool) {
		if !ok || !out.OK {
			s.violate(Liveness, "no write committed within %d ticks of healing", s.cfg.LivenessTicks)
			s.ctl.done = true
			return
		}
		s.res.LivenessTicks = int((s.now - s.ctl.healAt) / tickUnits)
		s.ctl.stage = converge
		s.ctl.liveSlot = o.slot
		s.ctl.deadline = s.now + int64(s.cfg.LivenessTicks)*tickUnits
		s.logf("liveness: write committed at slot %d, %d ticks after healing", o.slot, s.res.LivenessTicks)
	}
	s.after(0, func() { s.wake(c) })
}

// control runs once a tick and moves the run through its final stages.
func (s *sim) control() {
	s.after(tickUnits, s.control)
	if s.ctl.stage == chaos {
		return
	}
	switch s.ctl.stage {
	case converge:
		if lag := s.lagging(s.ctl.liveSlot); lag == "" {
			s.ctl.stage = finalReads
			s.startFinalReads()
		} else if s.now >= s.ctl.deadline {
			s.violate(Liveness, "%d ticks after the liveness write, %s", s.cfg.LivenessTicks, lag)
			s.ctl.done = true
		}
	case settle:
		idle := true
		for _, c := range s.clients {
			idle = idle && c.op == nil
		}
		if idle && s.lagging(s.maxApplied()) == "" {
			s.ctl.done = true
		} else if s.now >= s.ctl.deadline {
			s.violate(Liveness, "replicas did not settle on one applied point: %s", s.lagging(s.maxApplied()))
			s.ctl.done = true
		}
	}
	if s.now > s.ctl.healAt+int64(6*s.cfg.LivenessTicks)*tickUnits && !s.ctl.done {
		s.violate(Liveness, "the run did not finish within %d ticks of healing (stage %d)", 6*s.cfg.LivenessTicks, s.ctl.stage)
		s.ctl.done = true
	}
}

func (s *sim) startFinalReads() {
	c := s.newClient(1001)
	for i := range s.cfg.Keys {
		c.script = append(c.script, linearize.Input{Kind: linearize.Get, Key: s.keyName(i)})
	}
	c.script = append(c.script, linearize.Input{Kind: linearize.Get, Key: liveKey})
	c.onDone = func(c *client, o *op, _ linearize.Output, ok bool) {
		if !ok {
			s.violate(Liveness, "final read of %s on replica %d did not complete within %d ticks", o.in.Key, o.replica.id, s.cfg.LivenessTicks)
			s.ctl.done = true
			return
		}
		if c.stopped {
			s.ctl.stage = settle
			s.ctl.deadline = s.now + int64(s.cfg.LivenessTicks)*tickUnits
		}
	}
	s.after(0, func() { s.wake(c) })
}

func (s *sim) maxApplied() uint64 {
	var m uint64
	for _, r := range s.reps {
		if a, ok := executorApplied(r.roles[msg.RoleExecutor]); ok {
			m = max(m, a)
		}
	}
	return m
}

// lagging names a replica whose executor has not applied slot, or "".
func (s *sim) lagging(slot uint64) string {
	for _, r := range s.reps {
		if !s.serving(r) {
			continue // not applying the log any more, or not yet
		}
		a, ok := executorApplied(r.roles[msg.RoleExecutor])
		if !r.up || !ok {
			return fmt.Sprintf("replica %d is down or has no executor", r.id)
		}
		if a < slot {
			return fmt.Sprintf("replica %d applied only up to slot %d of %d", r.id, a, slot)
		}
	}
	return ""
}

// finish runs the checkers that need the whole run.
func (s *sim) finish() {
	if !s.halt && s.ctl.stage != chaos {
		s.checkAcked()
	}
	s.checkQuorums()
	s.checkPromises()
	s.checkHistory()
}

// checkAcked is the explicit lost-write checker: every acknowledged write
// is in the agreed log at the slot its answer named, and every replica's
// rev has reached it.
func (s *sim) checkAcked() {
	complete := s.ctl.done && len(s.res.Violations) == 0
	for _, w := range s.acked {
		rec, ok := s.chosen[w.slot]
		if !ok {
			s.violate(LostWrite, "%s was answered from slot %d, which no learner stored", w.desc, w.slot)
			continue
		}
		found := false
		for _, c := range rec.v.Cmds {
			found = found || (c.Client == w.client && c.Seq == w.seq)
		}
		if !found {
			s.violate(LostWrite, "%s was answered from slot %d, whose chosen value %s does not hold it",
				w.desc, w.slot, describeValue(rec.v))
		}
		if !complete {
			continue
		}
		for _, r := range s.reps {
			if !s.serving(r) {
				continue
			}
			if _, rev, _, ok, _ := executorState(r.roles[msg.RoleExecutor]); ok && rev < w.rev {
				s.violate(LostWrite, "%s: replica %d ended at rev %d", w.desc, r.id, rev)
			}
		}
	}
}

func (s *sim) checkHistory() {
	h := s.res.History
	res := porcupine.CheckOperationsTimeout(linearize.Model, h, checkTimeout)
	switch res {
	case porcupine.Ok:
	case porcupine.Unknown:
		s.violate(CheckerTimeout, "porcupine did not finish checking %d ops within %v", len(h), checkTimeout)
	default:
		s.violate(Linearizability, "history of %d ops is not linearizable", len(h))
	}
	if len(s.res.Violations) > 0 {
		s.visualize()
	}
}

// visualize writes porcupine's HTML rendering of the history.
func (s *sim) visualize() {
	_, info := porcupine.CheckOperationsVerbose(linearize.Model, s.res.History, checkTimeout)
	dir := s.cfg.VisualizeDir
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, fmt.Sprintf("rsml-sim-seed-%d-*.html", s.cfg.Seed))
	if err != nil {
		s.logf("visualization: %v", err)
		return
	}
	defer f.Close()
	if err := porcupine.Visualize(linearize.Model, info, f); err != nil {
		s.logf("visualization: %v", err)
		return
	}
	s.res.Visualization = filepath.Clean(f.Name())
}
