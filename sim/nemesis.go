package sim

import (
	"fmt"
	"slices"

	"github.com/rsml-go/rsml/actors/membership"
	"github.com/rsml-go/rsml/msg"
)

// network is the simulated network's current conditions, recomputed from
// the active faults whenever one starts or ends.
type network struct {
	n       int
	cut     [][]bool // cut[from][to]: messages from → to are lost
	drop    float64
	dup     float64
	delay   int64 // extra latency, up to this many units
	reorder bool  // no per-link FIFO
	last    [][]int64
}

func newNetwork(n int) network {
	nw := network{n: n}
	nw.cut = make([][]bool, n+1)
	nw.last = make([][]int64, n+1)
	for i := range nw.cut {
		nw.cut[i] = make([]bool, n+1)
		nw.last[i] = make([]int64, n+1)
	}
	return nw
}

func (nw *network) blocked(from, to msg.NodeID) bool { return nw.cut[from][to] }

func (nw *network) clear() {
	for _, row := range nw.cut {
		clear(row)
	}
	nw.drop, nw.dup, nw.delay, nw.reorder = 0, 0, 0, false
}

// fault is one active fault: net changes the network while it lasts; end,
// if set, undoes what is not network (a crashed replica restarts).
type fault struct {
	id   int
	kind string
	net  func(*network)
	end  func()
}

type nemesis struct {
	active []*fault
	nextID int
	healed bool
}

// FaultKinds are what the nemesis picks from, each equally likely; a
// Config may narrow them to aim a run at one kind of trouble.
var FaultKinds = []string{"drop", "duplicate", "delay", "reorder", "isolate", "split", "one-way", "crash", "restart-role", "transfer"}

func (s *sim) startNemesis() {
	s.after(tickUnits*(5+s.rngNem.Int64N(20)), s.nemesisStep)
	s.at(int64(s.cfg.ChaosTicks)*tickUnits, s.heal)
}

func (s *sim) nemesisStep() {
	if s.nem.healed {
		return
	}
	s.after(tickUnits*(5+s.rngNem.Int64N(40)), s.nemesisStep)
	kinds := FaultKinds
	if len(s.cfg.Faults) > 0 {
		kinds = s.cfg.Faults
	} else if s.cfg.Spares > 0 {
		kinds = append(slices.Clone(kinds), "reconfig", "reconfig", "reconfig", "reconfig")
	}
	kind := kinds[s.rngNem.IntN(len(kinds))]
	if kind != "restart-role" && kind != "transfer" && kind != "reconfig" && len(s.nem.active) >= 2 {
		return // at most two lasting faults at once
	}
	dur := tickUnits * (5 + s.rngNem.Int64N(80))
	id := s.ids[s.rngNem.IntN(len(s.ids))]
	f := &fault{kind: kind}
	var what string
	switch kind {
	case "drop":
		p := 0.05 + 0.3*s.rngNem.Float64()
		f.net = func(nw *network) { nw.drop = max(nw.drop, p) }
		what = fmt.Sprintf("p=%.2f", p)
	case "duplicate":
		p := 0.05 + 0.3*s.rngNem.Float64()
		f.net = func(nw *network) { nw.dup = max(nw.dup, p) }
		what = fmt.Sprintf("p=%.2f", p)
	case "delay":
		d := int64(100 + s.rngNem.IntN(3*tickUnits))
		if s.rngNem.IntN(4) == 0 {
			d = int64(tickUnits * (5 + s.rngNem.IntN(30))) // past an election timeout
		}
		f.net = func(nw *network) { nw.delay = max(nw.delay, d) }
		what = fmt.Sprintf("up to %d units", d)
	case "reorder":
		d := int64(50 + s.rngNem.IntN(2*tickUnits))
		f.net = func(nw *network) { nw.reorder = true; nw.delay = max(nw.delay, d) }
		what = fmt.Sprintf("jitter up to %d units", d)
	case "isolate":
		f.net = func(nw *network) {
			for _, o := range s.ids {
				if o != id {
					nw.cut[id][o], nw.cut[o][id] = true, true
				}
			}
		}
		what = fmt.Sprintf("replica %d", id)
	case "split":
		// A random side of at most half the cluster against the rest.
		side := map[msg.NodeID]bool{}
		perm := s.rngNem.Perm(len(s.ids))
		for _, i := range perm[:1+s.rngNem.IntN(len(s.ids)/2)] {
			side[s.ids[i]] = true
		}
		f.net = func(nw *network) {
			for _, a := range s.ids {
				for _, b := range s.ids {
					if side[a] != side[b] {
						nw.cut[a][b] = true
					}
				}
			}
		}
		var members []msg.NodeID
		for _, i := range perm {
			if side[s.ids[i]] {
				members = append(members, s.ids[i])
			}
		}
		slices.Sort(members)
		what = fmt.Sprintf("%v | rest", members)
	case "one-way":
		switch s.rngNem.IntN(3) {
		case 0: // hears nobody, is heard
			f.net = func(nw *network) {
				for _, o := range s.ids {
					if o != id {
						nw.cut[o][id] = true
					}
				}
			}
			what = fmt.Sprintf("replica %d hears nobody", id)
		case 1: // heard by nobody, hears
			f.net = func(nw *network) {
				for _, o := range s.ids {
					if o != id {
						nw.cut[id][o] = true
					}
				}
			}
			what = fmt.Sprintf("replica %d is heard by nobody", id)
		default:
			other := s.ids[(int(id)+s.rngNem.IntN(len(s.ids)-1))%len(s.ids)]
			f.net = func(nw *network) { nw.cut[id][other] = true }
			what = fmt.Sprintf("%d -> %d cut", id, other)
		}
	case "crash":
		r := s.rep(id)
		if !r.up {
			return
		}
		s.crash(r)
		f.end = func() {
			if !r.up {
				s.start(r)
				s.logf("fault end: replica %d restarts", r.id)
			}
		}
		what = fmt.Sprintf("replica %d", id)
	case "transfer":
		// An operator moves leadership to id, asking through a random
		// replica, which sends the request to the leader it knows (as
		// Node.TransferLeadership does). The target may be down, or lead
		// already.
		r := s.rep(s.ids[s.rngNem.IntN(len(s.ids))])
		if !r.up || r.leader == 0 {
			return
		}
		s.res.Faults[kind]++
		s.logf("fault: transfer leadership to %d, asked through %d (leader %d)", id, r.id, r.leader)
		s.send(r, []msg.Out{{To: msg.Target{Node: r.leader, Role: msg.RoleProposer}, Msg: &msg.TransferLeader{Target: id}}})
		return
	case "reconfig":
		s.reconfigure()
		return
	case "restart-role":
		r := s.rep(id)
		if !r.up {
			return
		}
		role := roleOrder[s.rngNem.IntN(len(roleOrder))]
		if r.roles[role] == nil {
			return // a role the replica does not run
		}
		kind = "restart-" + role.String()
		s.res.Faults[kind]++
		s.logf("fault: restart %s of replica %d", role, id)
		s.build(r, role)
		return
	}
	s.res.Faults[kind]++
	s.nem.nextID++
	f.id = s.nem.nextID
	s.nem.active = append(s.nem.active, f)
	s.recomputeNet()
	s.logf("fault %d: %s %s for %d ticks", f.id, kind, what, dur/tickUnits)
	s.after(dur, func() { s.endFault(f) })
}

func (s *sim) endFault(f *fault) {
	i := slices.Index(s.nem.active, f)
	if i < 0 {
		return // healed already
	}
	s.nem.active = slices.Delete(s.nem.active, i, i+1)
	s.logf("fault %d ends: %s", f.id, f.kind)
	if f.end != nil {
		f.end()
	}
	s.recomputeNet()
}

func (s *sim) recomputeNet() {
	s.net.clear()
	for _, f := range s.nem.active {
		if f.net != nil {
			f.net(&s.net)
		}
	}
}

// heal ends every fault and restarts every crashed replica; then the
// liveness checker's clock starts. With the NeverHeal bug the network stays
// fully cut instead.
func (s *sim) heal() {
	s.nem.healed = true
	active := s.nem.active
	s.nem.active = nil
	for _, f := range active {
		if f.end != nil {
			f.end()
		}
	}
	s.recomputeNet()
	if s.cfg.Bugs.NeverHeal {
		for _, a := range s.ids {
			for _, b := range s.ids {
				s.net.cut[a][b] = a != b
			}
		}
	}
	s.logf("heal: every fault ends")
	s.startLiveness()
}

// reconfigure is an operator's membership change, asked through a random
// replica (which routes it to the leader it knows), against the latest
// configuration the agreed log shows so far (which may be stale: the change
// is then refused where it is chosen). Growing, shrinking and replacing a
// replica are sequences of these: a spare added as an observer or as a full
// member, a member removed, an observer promoted or a member demoted.
func (s *sim) reconfigure() {
	r := s.rep(s.ids[s.rngNem.IntN(len(s.ids))])
	if !r.up {
		return
	}
	latest := s.oracle.Latest()
	ch := &membership.Change{Base: latest.Num, Origin: r.id, Reply: fmt.Sprintf("change-%d", s.res.Faults["reconfig"])}
	id := s.ids[s.rngNem.IntN(len(s.ids))]
	roles := membership.All
	if s.rngNem.IntN(2) == 0 {
		roles = membership.Learner
	}
	cur, isMember := latest.Member(id)
	full := membership.All
	if s.rep(id).witness {
		full = membership.Acceptor // a witness votes and holds nothing else
		if roles == membership.All {
			roles = full
		}
	}
	switch {
	case !isMember && !s.oracle.IsRetired(id):
		// A new id joins as a learner: the leader refuses to make a replica
		// an acceptor before it has caught up, which a new id has not.
		if s.rngNem.IntN(8) > 0 {
			roles = membership.Learner
		}
		ch.Op, ch.Member = membership.Add, member(id, roles)
	case isMember && cur.Roles&membership.Acceptor == 0 && s.rngNem.IntN(3) > 0:
		// Promote a learner, mostly: growing goes through this step.
		ch.Op, ch.Member = membership.SetRoles, member(id, full)
	case isMember && s.rngNem.IntN(3) == 0:
		if cur.Roles == full {
			roles = membership.Learner
		}
		ch.Op, ch.Member = membership.SetRoles, member(id, roles)
	case isMember:
		ch.Op, ch.Member = membership.Remove, member(id, 0)
	default:
		return // a retired id: never again
	}
	s.res.Faults["reconfig"]++
	s.logf("fault: membership %s %d (%s) against config %d, asked through %d", ch.Op, id, ch.Member.Roles, latest.Num, r.id)
	s.sendLocal(r, msg.Out{To: msg.Target{Node: r.id, Role: msg.RoleProposer},
		Msg: &msg.ChangeRequest{Change: ch.Encode(), Origin: r.id, Reply: ch.Reply}})
}
