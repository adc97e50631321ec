package acceptor

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// Config holds what the core needs to know about its replica.
type Config struct {
	ID msg.NodeID
	// LeaseTicks is how long, after hearing the leader, this acceptor refuses
	// to promise a challenger. It must be shorter than the shortest election
	// timeout, or a dead leader's followers could never elect a successor.
	LeaseTicks int
	// Witness: this replica keeps no state machine, so its own snapshots
	// hold nothing of the slots they cover. It truncates only up to the
	// floor its learner delivered (msg.Truncate.Floor): a point every
	// replica with state holds in a durable snapshot.
	Witness bool
}

// Core is the acceptor's protocol state. It is not safe for concurrent use.
type Core struct {
	cfg       Config
	promised  msg.Ballot
	truncated uint64 // every slot up to it is chosen, applied and snapshotted; its entry is gone
	// accepted holds per slot the ballot accepted and, until it is durable,
	// the value: a durable value is dropped from memory (Value nil) and read
	// back from log for the rare Promise that reports it. The values the
	// acceptor keeps for a new leader would otherwise be most of a
	// replica's memory under writes.
	accepted map[uint64]msg.Entry
	log      storage.AcceptorLog // nil: values stay in memory
	written  []msg.Entry         // the entries of the record being made durable
	fail     error
	// A witness's truncation: the highest point its learner asked (want)
	// and the highest floor it delivered; it truncates to the lower of the
	// two. Both are kept in memory only: after a restart it waits for the
	// next floor, and the truncation point already made durable stays.
	want, floor uint64

	now          int        // logical clock, in ticks
	leaderBallot msg.Ballot // ballot of the leader last heard
	leaderTick   int        // when it was last heard
	heard        bool

	// immediate are answers that reveal nothing not yet durable: they go with
	// the next Ready. The rest waits for the flush: what to persist, then
	// what to send once it is durable.
	immediate []msg.Out
	pending   storage.AcceptorRecord
	dirty     bool
	afterPut  []msg.Out
	// flushing: a flush message is on its way to us; flushNow: it arrived,
	// and the next Ready carries the record.
	flushing bool
	flushNow bool
}

// flush is the message the acceptor sends itself when its first buffered
// answer arrives. It lands behind everything already queued for the
// acceptor, so one durable write covers every Accept that arrived meanwhile
// (group commit), and the answers go out after it.
type flush struct{}

// New builds a core from the state a restart found in storage.
func New(cfg Config, st storage.AcceptorState) *Core {
	c := &Core{cfg: cfg, promised: st.Promised, truncated: st.Truncated, accepted: make(map[uint64]msg.Entry, len(st.Entries))}
	for _, e := range st.Entries {
		if e.Slot > c.truncated {
			c.accepted[e.Slot] = e
		}
	}
	return c
}

// Load builds a core from the acceptor log, as every (re)start does: without
// its log an acceptor could break a promise, so an error means it must not
// run.
func Load(cfg Config, log storage.AcceptorLog) (*Core, error) {
	st, err := log.Load()
	if err != nil {
		return nil, fmt.Errorf("acceptor: load the log: %w", err)
	}
	c := New(cfg, st)
	c.log = log
	for s, e := range c.accepted {
		e.Value = nil // durable: read back when a Promise needs it
		c.accepted[s] = e
	}
	return c, nil
}

// Promised returns the highest ballot promised (durable or pending).
func (c *Core) Promised() msg.Ballot { return c.promised }

// Accepted returns the entry accepted for slot, if any. Its Value is nil
// once durable, for a core loaded from a log (Load).
func (c *Core) Accepted(slot uint64) (msg.Entry, bool) {
	e, ok := c.accepted[slot]
	return e, ok
}

// Truncated returns the truncation point.
func (c *Core) Truncated() uint64 { return c.truncated }

// Tick advances the logical clock.
func (c *Core) Tick() { c.now++ }

// Step handles one message. Answers that reveal nothing not yet durable go
// with the next Ready; answers that depend on new state wait for the flush,
// whose Ready carries the record to persist first.
func (c *Core) Step(m any) {
	switch m := m.(type) {
	case *msg.Prepare:
		c.immediate = append(c.immediate, c.prepare(m)...)
	case *msg.Accept:
		c.immediate = append(c.immediate, c.accept(m)...)
	case *msg.Heartbeat:
		c.immediate = append(c.immediate, c.heartbeat(m)...)
	case *msg.Truncate:
		if c.cfg.Witness && m.Floor > c.floor {
			c.floor = m.Floor
		}
		c.truncate(m.Through)
	case flush:
		c.flushing, c.flushNow = false, true
		return
	}
	if (c.dirty || len(c.afterPut) > 0) && !c.flushing {
		c.flushing = true
		c.immediate = append(c.immediate, msg.Out{To: msg.Target{Node: c.cfg.ID, Role: msg.RoleAcceptor}, Msg: flush{}})
	}
}

// Ready implements role.Core: the answers that may go now, and at a flush
// the record to make durable with the answers that wait for it.
func (c *Core) Ready() role.Ready {
	rd := role.Ready{Messages: c.immediate, Fail: c.fail}
	c.immediate = nil
	if !c.flushNow || c.fail != nil {
		return rd
	}
	c.flushNow = false
	if c.dirty {
		rec := c.pending
		rd.Accepted = &rec
		c.written = rec.Entries
	}
	rd.Messages = append(rd.Messages, c.afterPut...)
	c.pending, c.dirty, c.afterPut = storage.AcceptorRecord{}, false, nil
	return rd
}

// Advance implements role.Core: the record of the last Ready is durable, so
// the values it holds can leave memory (the log keeps them).
func (c *Core) Advance() {
	if c.log != nil {
		for _, w := range c.written {
			if e, ok := c.accepted[w.Slot]; ok && e.Ballot == w.Ballot {
				e.Value = nil
				c.accepted[w.Slot] = e
			}
		}
	}
	c.written = nil
}

// promiseEntries is what a Promise reports: every entry from slot from on,
// in slot order, with the values that left memory read back from the log.
// An entry whose value cannot be read must not be reported without it (a
// leader would take the slot for empty): the acceptor fails instead, to be
// restarted from its log.
func (c *Core) promiseEntries(from uint64) ([]msg.Entry, error) {
	var out []msg.Entry
	var missing []uint64
	for _, e := range c.accepted {
		if e.Slot >= from {
			out = append(out, e)
			if e.Value == nil {
				missing = append(missing, e.Slot)
			}
		}
	}
	// Slot order, so that the same state always gives the same message (the
	// seeded simulation replays runs byte for byte).
	slices.SortFunc(out, func(a, b msg.Entry) int { return cmp.Compare(a.Slot, b.Slot) })
	if len(missing) == 0 {
		return out, nil
	}
	slices.Sort(missing)
	read, err := c.log.Values(missing)
	if err != nil {
		return nil, fmt.Errorf("acceptor: read back the values of %d slots for a promise: %w", len(missing), err)
	}
	if len(read) != len(missing) {
		return nil, fmt.Errorf("acceptor: read back %d values for a promise, want %d", len(read), len(missing))
	}
	j := 0
	for i := range out {
		if out[i].Value != nil {
			continue
		}
		r := read[j]
		j++
		if r.Slot != out[i].Slot || r.Ballot != out[i].Ballot || r.Value == nil {
			return nil, fmt.Errorf("acceptor: the log holds slot %d ballot %s, memory slot %d ballot %s",
				r.Slot, r.Ballot, out[i].Slot, out[i].Ballot)
		}
		out[i].Value = r.Value
	}
	return out, nil
}

func (c *Core) leaseHeld(b msg.Ballot) bool {
	return c.heard && b.ID != c.leaderBallot.ID && c.now-c.leaderTick < c.cfg.LeaseTicks
}

func (c *Core) hear(b msg.Ballot) {
	if !b.Less(c.leaderBallot) || !c.heard {
		c.leaderBallot, c.leaderTick, c.heard = b, c.now, true
	}
}

func (c *Core) prepare(m *msg.Prepare) []msg.Out {
	to := msg.Target{Node: m.From, Role: msg.RoleProposer}
	switch cmp := m.Ballot.Compare(c.promised); {
	case cmp < 0:
		return []msg.Out{{To: to, Msg: &msg.Nack{From: c.cfg.ID, Ballot: m.Ballot, Promised: c.promised}}}
	case cmp > 0 && c.leaseHeld(m.Ballot) && !(c.heard && m.Handover == c.leaderBallot):
		return []msg.Out{{To: to, Msg: &msg.Nack{From: c.cfg.ID, Ballot: m.Ballot, Promised: c.promised, LeaderAlive: true}}}
	case m.Probe:
		if cmp == 0 {
			return nil // a probe for a ballot already promised: stale
		}
		return []msg.Out{{To: to, Msg: &msg.Promise{From: c.cfg.ID, Ballot: m.Ballot, Probe: true}}}
	case cmp > 0:
		c.promised = m.Ballot
		c.pending.Promised = m.Ballot
		c.dirty = true
	}
	// A promise (new, or repeated for a duplicate Prepare) goes out only after
	// the promise it makes is durable.
	entries, err := c.promiseEntries(m.FromSlot)
	if err != nil {
		c.fail = err
		return nil
	}
	p := &msg.Promise{From: c.cfg.ID, Ballot: m.Ballot, Truncated: c.truncated, Entries: entries}
	c.afterPut = append(c.afterPut, msg.Out{To: to, Msg: p})
	return nil
}

// chosenRun passes on to our learner what the leader's learner saw chosen:
// it is a fact about a quorum, not about our state, so it needs no record
// and may go at once.
func (c *Core) chosenRun(from msg.NodeID, b msg.Ballot, r msg.Run) []msg.Out {
	if r.Empty() || from == c.cfg.ID {
		return nil
	}
	return []msg.Out{{To: msg.Target{Node: c.cfg.ID, Role: msg.RoleLearner}, Msg: &msg.ChosenRun{From: from, Ballot: b, Run: r}}}
}

func (c *Core) accept(m *msg.Accept) []msg.Out {
	run := c.chosenRun(m.From, m.Ballot, m.Chosen)
	if m.Ballot.Less(c.promised) {
		return append(run, msg.Out{To: msg.Target{Node: m.From, Role: msg.RoleProposer},
			Msg: &msg.Nack{From: c.cfg.ID, Ballot: m.Ballot, Promised: c.promised}})
	}
	c.hear(m.Ballot)
	if c.promised.Less(m.Ballot) {
		c.promised = m.Ballot
		c.pending.Promised = m.Ballot
		c.dirty = true
	}
	slots := make([]uint64, 0, len(m.Proposals))
	values := make([]*msg.Value, 0, len(m.Proposals))
	for _, p := range m.Proposals {
		if p.Slot <= c.truncated {
			// Chosen and forgotten: a leader behind our truncation point
			// proposes what was chosen (Paxos guarantees it), but a vote
			// without the value would be a claim we can no longer back.
			// Its learner catches up from a peer instead.
			continue
		}
		if old, ok := c.accepted[p.Slot]; !ok || old.Ballot != m.Ballot {
			e := msg.Entry{Slot: p.Slot, Ballot: m.Ballot, Value: p.Value}
			c.accepted[p.Slot] = e
			c.pending.Entries = append(c.pending.Entries, e)
			c.dirty = true
		}
		// A duplicate Accept is answered again: the first answer may be lost.
		// Its value is the one accepted (one value per slot and ballot),
		// which may have left memory.
		slots = append(slots, p.Slot)
		values = append(values, p.Value)
	}
	if len(slots) == 0 {
		return run
	}
	// The ballot's leader's learner counts the acceptance; our own learner
	// gets the values, as a local pointer: it delivers them once it hears
	// (through Accept.Chosen, a Heartbeat or a ChosenRun) that a quorum
	// accepted them in this ballot. The other learners need nothing: that
	// saves two messages per acceptor and slot on the wire.
	c.afterPut = append(c.afterPut, msg.Out{To: msg.Target{Node: c.cfg.ID, Role: msg.RoleLearner},
		Msg: &msg.Accepted{From: c.cfg.ID, Ballot: m.Ballot, Slots: slots, Values: values}})
	if lead := m.Ballot.ID; lead != c.cfg.ID {
		c.afterPut = append(c.afterPut, msg.Out{To: msg.Target{Node: lead, Role: msg.RoleLearner},
			Msg: &msg.Accepted{From: c.cfg.ID, Ballot: m.Ballot, Slots: slots}})
	}
	return run
}

// truncate drops the entries up to through: the learner says they are
// chosen, applied and in a durable snapshot. The point goes into the next
// record; nothing waits for it, since a promise that reports a point before
// it is durable reports only what is true (those slots are chosen), and a
// restart that lost it reports the entries again.
func (c *Core) truncate(through uint64) {
	if c.cfg.Witness {
		c.want = max(c.want, through)
		through = min(c.want, c.floor)
	}
	if through <= c.truncated {
		return
	}
	c.truncated = through
	for s := range c.accepted {
		if s <= through {
			delete(c.accepted, s)
		}
	}
	c.pending.Truncated = through
	c.dirty = true
}

func (c *Core) heartbeat(m *msg.Heartbeat) []msg.Out {
	if !m.Ballot.Less(c.promised) {
		c.hear(m.Ballot)
	}
	// (Learners get the heartbeat, and the chosen run it carries, directly.)
	ack := &msg.HeartbeatAck{From: c.cfg.ID, Ballot: m.Ballot, Seq: m.Seq, Promised: c.promised, Truncated: c.truncated}
	if c.cfg.Witness {
		ack.Witness = true
	}
	return []msg.Out{{To: msg.Target{Node: m.From, Role: msg.RoleProposer}, Msg: ack}}
}
