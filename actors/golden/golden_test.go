package golden

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"github.com/rsml-go/rsml/actors/acceptor"
	"github.com/rsml-go/rsml/actors/executor"
	"github.com/rsml-go/rsml/actors/learner"
	"github.com/rsml-go/rsml/actors/proposer"
	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/actors/roles"
	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

func TestGolden(t *testing.T) {
	datadriven.Walk(t, "testdata", func(t *testing.T, path string) {
		c := &cluster{t: t}
		datadriven.RunTest(t, path, c.run)
	})
}

// envelope is a message in flight.
type envelope struct {
	from msg.NodeID
	to   msg.Target
	m    any
}

// replica is one replica's storage (it survives a crash) and its running
// roles (nil while it is down).
type replica struct {
	id     msg.NodeID
	store  *storage.Memory
	sm     *kv.Store
	roles  map[msg.Role]*role.Sync
	builds uint64
}

type cluster struct {
	t        *testing.T
	ids      []msg.NodeID
	reps     map[msg.NodeID]*replica
	params   func(id msg.NodeID) roles.Params
	queue    []envelope
	cut      map[[2]msg.NodeID]bool // one-way: from, to
	out      *strings.Builder
	proposed int
}

var roleOrder = []msg.Role{msg.RoleAcceptor, msg.RoleLearner, msg.RoleExecutor, msg.RoleProposer}

func (c *cluster) run(t *testing.T, d *datadriven.TestData) string {
	c.out = &strings.Builder{}
	switch d.Cmd {
	case "replicas":
		c.start(d)
		c.settle()
	case "campaign":
		c.stepRole(c.id(d), msg.RoleProposer, &proposer.Campaign{})
	case "transfer":
		// transfer id=1 to=2: replica 1's proposer is asked to hand over
		// (to=0: to the follower it deems freshest).
		c.stepRole(c.id(d), msg.RoleProposer, &msg.TransferLeader{Target: msg.NodeID(c.intArg(d, "to", 0))})
	case "tick":
		n := c.intArg(d, "n", 1)
		for range n {
			for _, id := range c.targets(d) {
				r := c.reps[id]
				for _, ro := range roleOrder {
					if s := r.roles[ro]; s != nil {
						out, err := s.Tick()
						c.check(err)
						c.enqueue(id, out)
					}
				}
			}
		}
	case "propose":
		id := c.id(d)
		var key, value string
		d.ScanArgs(t, "key", &key)
		d.ScanArgs(t, "value", &value)
		c.proposed++
		cmd := msg.Command{Origin: id, Reply: fmt.Sprintf("c%d", c.proposed), Data: kv.Put(key, []byte(value))}
		c.stepRole(id, msg.RoleProposer, &msg.ClientRequest{Cmd: cmd})
	case "deliver":
		c.deliver(d)
	case "drop":
		fmt.Fprintf(c.out, "dropped %d messages\n", len(c.queue))
		c.queue = nil
	case "partition":
		// partition 1 / 2 3: cut both ways between the groups.
		groups := strings.Split(strings.Join(argKeys(d), " "), "/")
		if len(groups) != 2 {
			d.Fatalf(t, "partition A... / B...")
		}
		for _, a := range fields(groups[0]) {
			for _, b := range fields(groups[1]) {
				c.cut[[2]msg.NodeID{a, b}], c.cut[[2]msg.NodeID{b, a}] = true, true
			}
		}
	case "heal":
		c.cut = map[[2]msg.NodeID]bool{}
	case "crash":
		id := c.id(d)
		c.reps[id].roles = nil
	case "restart":
		c.bootstrap(c.reps[c.id(d)])
	case "status":
		c.status()
	default:
		d.Fatalf(t, "unknown command %q", d.Cmd)
	}
	if n := len(c.queue); n > 0 && d.Cmd != "deliver" {
		fmt.Fprintf(c.out, "(%d in flight)\n", n)
	}
	if c.out.Len() == 0 {
		return "ok\n"
	}
	return c.out.String()
}

func (c *cluster) start(d *datadriven.TestData) {
	n := c.intArg(d, "n", 3)
	snapEvery := uint64(c.intArg(d, "snapshot-every", 1000))
	c.reps, c.cut, c.ids, c.queue = map[msg.NodeID]*replica{}, map[[2]msg.NodeID]bool{}, nil, nil
	for i := 1; i <= n; i++ {
		c.ids = append(c.ids, msg.NodeID(i))
	}
	c.params = func(id msg.NodeID) roles.Params {
		return roles.Params{ID: id, Replicas: c.ids, HeartbeatTicks: 2, ElectionTicks: 10, LeaseTicks: 6, ResendTicks: 4,
			Window: 4, MaxBatch: 8, MaxBatchBytes: 1 << 20, MaxQueue: 100, SnapshotEvery: snapEvery, MaxSessions: 100,
			MaxCatchup: 8}
	}
	for _, id := range c.ids {
		r := &replica{id: id, store: storage.NewMemory()}
		c.reps[id] = r
		c.bootstrap(r)
	}
}

// recStore is a replica's storage, which prints every write: the script
// shows each record persisted before the messages that depend on it.
type recStore struct {
	r *replica
	c *cluster
}

func (s recStore) say(format string, args ...any) {
	fmt.Fprintf(s.c.out, "  %d persists: %s\n", s.r.id, fmt.Sprintf(format, args...))
}

func (s recStore) Proposer() storage.BallotLog      { return recBallots{s} }
func (s recStore) Acceptor() storage.AcceptorLog    { return recAcceptor{s} }
func (s recStore) Chosen() storage.ChosenLog        { return recChosen{s.r.store.Chosen(), s} }
func (s recStore) Snapshots() storage.SnapshotStore { return recSnaps{s.r.store.Snapshots(), s} }

type recBallots struct{ s recStore }

func (b recBallots) LoadBallot() (msg.Ballot, error) { return b.s.r.store.Proposer().LoadBallot() }
func (b recBallots) SaveBallot(bal msg.Ballot) error {
	b.s.say("ballot %s", bal)
	return b.s.r.store.Proposer().SaveBallot(bal)
}

type recAcceptor struct{ s recStore }

func (a recAcceptor) Load() (storage.AcceptorState, error) { return a.s.r.store.Acceptor().Load() }
func (a recAcceptor) Values(slots []uint64) ([]msg.Entry, error) {
	return a.s.r.store.Acceptor().Values(slots)
}
func (a recAcceptor) Append(rec storage.AcceptorRecord) error {
	var parts []string
	if !rec.Promised.IsZero() {
		parts = append(parts, "promise "+rec.Promised.String())
	}
	if len(rec.Entries) > 0 {
		parts = append(parts, "accepted"+strings.TrimPrefix(entries(rec.Entries), " accepted"))
	}
	if rec.Truncated > 0 {
		parts = append(parts, fmt.Sprintf("truncated %d", rec.Truncated))
	}
	a.s.say("acceptor record: %s", strings.Join(parts, ", "))
	return a.s.r.store.Acceptor().Append(rec)
}

type recChosen struct {
	storage.ChosenLog
	s recStore
}

func (l recChosen) Append(slot uint64, v *msg.Value) error {
	l.s.say("chosen %d=%s", slot, value(v))
	return l.ChosenLog.Append(slot, v)
}

func (l recChosen) Truncate(through uint64) error {
	l.s.say("chosen log truncated through %d", through)
	return l.ChosenLog.Truncate(through)
}

func (l recChosen) Reset(base uint64) error {
	l.s.say("chosen log reset to start after %d", base)
	return l.ChosenLog.Reset(base)
}

type recSnaps struct {
	storage.SnapshotStore
	s recStore
}

func (n recSnaps) Save(snap storage.Snapshot) error {
	n.s.say("snapshot of slot %d (rev %d)", snap.Slot, snap.Rev)
	return n.SnapshotStore.Save(snap)
}

// bootstrap (re)starts a replica's roles from its storage, as node.Start
// does after a crash: a fresh state machine, restored from the snapshot.
func (c *cluster) bootstrap(r *replica) {
	set, err := roles.For(c.params(r.id))
	if err != nil {
		c.t.Fatal(err)
	}
	r.sm = kv.New()
	r.roles = map[msg.Role]*role.Sync{}
	for _, ro := range roleOrder {
		r.builds++
		// Election timeouts are drawn from a rng seeded by the replica and
		// its incarnation: the script's timing is fixed.
		env := roles.Env{Rand: rand.New(rand.NewPCG(uint64(r.id), r.builds)), Now: func() time.Duration { return 0 }}
		st := recStore{r: r, c: c}
		core, err := set.Build(ro, st, r.sm, env)
		c.check(err)
		s, out, err := role.NewSync(core, st)
		c.check(err)
		r.roles[ro] = s
		c.enqueue(r.id, out)
	}
}

func (c *cluster) check(err error) {
	if err != nil {
		c.t.Fatal(err)
	}
}

func (c *cluster) id(d *datadriven.TestData) msg.NodeID {
	var id int
	d.ScanArgs(c.t, "id", &id)
	if c.reps[msg.NodeID(id)] == nil {
		d.Fatalf(c.t, "no replica %d", id)
	}
	return msg.NodeID(id)
}

// targets are the replicas named by id=..., or all that run.
func (c *cluster) targets(d *datadriven.TestData) []msg.NodeID {
	if d.HasArg("id") {
		return []msg.NodeID{c.id(d)}
	}
	return c.ids
}

func (c *cluster) intArg(d *datadriven.TestData, name string, def int) int {
	if !d.HasArg(name) {
		return def
	}
	var v int
	d.ScanArgs(c.t, name, &v)
	return v
}

func argKeys(d *datadriven.TestData) []string {
	var ks []string
	for _, a := range d.CmdArgs {
		ks = append(ks, a.Key)
	}
	return ks
}

func fields(s string) []msg.NodeID {
	var ids []msg.NodeID
	for _, f := range strings.Fields(s) {
		n, err := strconv.Atoi(f)
		if err == nil {
			ids = append(ids, msg.NodeID(n))
		}
	}
	return ids
}

func (c *cluster) stepRole(id msg.NodeID, ro msg.Role, m any) {
	s := c.reps[id].roles[ro]
	if s == nil {
		fmt.Fprintf(c.out, "replica %d is down\n", id)
		return
	}
	out, err := s.Step(m)
	c.check(err)
	c.enqueue(id, out)
}

func (c *cluster) enqueue(from msg.NodeID, out []msg.Out) {
	for _, o := range out {
		c.queue = append(c.queue, envelope{from: from, to: o.To, m: o.Msg})
	}
}

// settle delivers what is in flight without printing it (the messages every
// replica sends itself on start).
func (c *cluster) settle() {
	out := c.out
	c.out = &strings.Builder{}
	c.deliver(&datadriven.TestData{})
	c.out = out
}

// deliver hands queued messages to their roles, in order, until the queue is
// empty (or n were delivered), printing each. Replies to clients end there;
// messages across a cut or to a replica that is down are dropped.
func (c *cluster) deliver(d *datadriven.TestData) {
	limit := c.intArg(d, "n", 10000)
	for i := 0; i < limit && len(c.queue) > 0; i++ {
		e := c.queue[0]
		c.queue = c.queue[1:]
		line := fmt.Sprintf("%d -> %s: %s", e.from, target(e.to), describe(e.m))
		r := c.reps[e.to.Node]
		switch {
		case c.cut[[2]msg.NodeID{e.from, e.to.Node}]:
			fmt.Fprintf(c.out, "%s  (cut)\n", line)
			continue
		case e.to.Role == msg.RoleWaiter:
			fmt.Fprintln(c.out, line)
			continue
		case r == nil || r.roles == nil:
			fmt.Fprintf(c.out, "%s  (down)\n", line)
			continue
		}
		fmt.Fprintln(c.out, line)
		c.stepRole(e.to.Node, e.to.Role, e.m)
	}
	if len(c.queue) > 0 {
		fmt.Fprintf(c.out, "(%d in flight)\n", len(c.queue))
	}
}

func target(t msg.Target) string {
	if t.Role == msg.RoleWaiter {
		return fmt.Sprintf("%d/client %s", t.Node, t.Ref)
	}
	return fmt.Sprintf("%d/%s", t.Node, t.Role)
}

func (c *cluster) status() {
	for _, id := range c.ids {
		r := c.reps[id]
		if r.roles == nil {
			fmt.Fprintf(c.out, "%d: down\n", id)
			continue
		}
		p := r.roles[msg.RoleProposer].Core().(*proposer.Runner).Core().Status()
		a := r.roles[msg.RoleAcceptor].Core().(*acceptor.Core)
		l := r.roles[msg.RoleLearner].Core().(*learner.Core)
		e := r.roles[msg.RoleExecutor].Core().(*executor.Core)
		fmt.Fprintf(c.out, "%d: %s leader=%d ballot=%s commit=%d | promised=%s truncated=%d | delivered=%d log=%d..%d | applied=%d rev=%d\n",
			id, p.Role, p.Leader, p.Ballot, p.Commit, a.Promised(), a.Truncated(), l.Delivered(),
			r.store.Chosen().Base()+1, r.store.Chosen().Last(), e.Applied(), e.Rev())
	}
}

// describe renders a message in one short line.
func describe(m any) string {
	switch m := m.(type) {
	case *msg.Prepare:
		kind := "Prepare"
		if m.Probe {
			kind = "Probe"
		}
		forced := ""
		if !m.Handover.IsZero() {
			forced = fmt.Sprintf(" (handover from %s)", m.Handover)
		}
		return fmt.Sprintf("%s %s from slot %d%s", kind, m.Ballot, m.FromSlot, forced)
	case *msg.Promise:
		kind := "Promise"
		if m.Probe {
			kind = "Probe ok"
		}
		return fmt.Sprintf("%s %s%s%s", kind, m.Ballot, entries(m.Entries), trunc(m.Truncated))
	case *msg.Nack:
		alive := ""
		if m.LeaderAlive {
			alive = " (leader alive)"
		}
		return fmt.Sprintf("Nack %s promised %s%s", m.Ballot, m.Promised, alive)
	case *msg.Accept:
		var ps []string
		for _, p := range m.Proposals {
			ps = append(ps, fmt.Sprintf("%d=%s", p.Slot, value(p.Value)))
		}
		return fmt.Sprintf("Accept %s [%s]%s", m.Ballot, strings.Join(ps, " "), run(" chosen", m.Chosen))
	case *msg.Accepted:
		return fmt.Sprintf("Accepted %s slots %v%s", m.Ballot, m.Slots, map[bool]string{true: " (with values)"}[len(m.Values) > 0])
	case *msg.Heartbeat:
		return fmt.Sprintf("Heartbeat %s seq %d commit %d%s", m.Ballot, m.Seq, m.Commit, run(" chosen", m.Chosen))
	case *msg.HeartbeatAck:
		return fmt.Sprintf("HeartbeatAck %s seq %d promised %s%s", m.Ballot, m.Seq, m.Promised, trunc(m.Truncated))
	case *msg.Progress:
		return fmt.Sprintf("Progress %s delivered %d of %d", m.Ballot, m.Delivered, m.Commit)
	case *msg.ChosenRun:
		return fmt.Sprintf("ChosenRun %s%s", m.Ballot, run("", m.Run))
	case *msg.Committed:
		return fmt.Sprintf("Committed %d%s", m.Commit, run(" chosen", m.Run))
	case *msg.Deliver:
		var vs []string
		for i, v := range m.Values {
			vs = append(vs, fmt.Sprintf("%d=%s", m.First+uint64(i), value(v)))
		}
		return fmt.Sprintf("Deliver [%s]", strings.Join(vs, " "))
	case *msg.Resync:
		return fmt.Sprintf("Resync from %d", m.From)
	case *msg.Snapshotted:
		return fmt.Sprintf("Snapshotted %d", m.Slot)
	case *msg.Truncate:
		return fmt.Sprintf("Truncate through %d", m.Through)
	case *msg.CatchupRequest:
		return fmt.Sprintf("CatchupRequest %d..%d", m.First, m.Last)
	case *msg.CatchupReply:
		var ps []string
		for _, p := range m.Chosen {
			ps = append(ps, fmt.Sprintf("%d=%s", p.Slot, value(p.Value)))
		}
		snap := ""
		if m.Snapshot > 0 {
			snap = fmt.Sprintf(" snapshot %d", m.Snapshot)
		}
		return fmt.Sprintf("CatchupReply through %d [%s]%s", m.Through, strings.Join(ps, " "), snap)
	case *msg.SnapshotRequest:
		return fmt.Sprintf("SnapshotRequest slot %d offset %d", m.Slot, m.Offset)
	case *msg.SnapshotChunk:
		return fmt.Sprintf("SnapshotChunk slot %d rev %d bytes %d..%d of %d", m.Slot, m.Rev, m.Offset, m.Offset+uint64(len(m.Data)), m.Size)
	case *msg.Install:
		return fmt.Sprintf("Install snapshot %d rev %d", m.Slot, m.Rev)
	case *msg.Result:
		return fmt.Sprintf("Result slot %d rev %d", m.Slot, m.Rev)
	case *msg.Reject:
		return fmt.Sprintf("Reject %s (leader hint %d)", m.Reason, m.Leader)
	case *msg.ClientRequest:
		return fmt.Sprintf("ClientRequest %s hops %d", value(&msg.Value{Cmds: []msg.Command{m.Cmd}}), m.Hops)
	case *msg.TransferLeader:
		return fmt.Sprintf("TransferLeader to %d", m.Target)
	case *msg.TransferStarted:
		return fmt.Sprintf("TransferStarted to %d from %s", m.Target, m.Ballot)
	case *msg.TimeoutNow:
		return fmt.Sprintf("TimeoutNow from %s commit %d", m.Ballot, m.Commit)
	}
	if s := fmt.Sprintf("%T", m); strings.HasSuffix(s, ".flush") {
		return "flush (group commit)"
	}
	return fmt.Sprintf("%T", m)
}

func trunc(t uint64) string {
	if t == 0 {
		return ""
	}
	return fmt.Sprintf(" truncated %d", t)
}

func run(label string, r msg.Run) string {
	if r.Empty() {
		return ""
	}
	return fmt.Sprintf("%s %d..%d", label, r.First, r.Through)
}

func entries(es []msg.Entry) string {
	if len(es) == 0 {
		return ""
	}
	es = slices.Clone(es)
	sort.Slice(es, func(i, j int) bool { return es[i].Slot < es[j].Slot })
	var parts []string
	for _, e := range es {
		parts = append(parts, fmt.Sprintf("%d=%s@%s", e.Slot, value(e.Value), e.Ballot))
	}
	return " accepted [" + strings.Join(parts, " ") + "]"
}

// value renders a slot's value: its commands as the puts they are, or noop.
func value(v *msg.Value) string {
	if v == nil || v.IsNoop() {
		return "noop"
	}
	var cmds []string
	for _, c := range v.Cmds {
		if t, err := kv.ParseTxn(c.Data); err == nil {
			cmds = append(cmds, fmt.Sprintf("txn(%d ops)", len(t.Then)))
			continue
		}
		cmds = append(cmds, putString(c.Data))
	}
	return strings.Join(cmds, ",")
}

// putString shows a put as key:value; the data of a put is [1, key, value].
func putString(b []byte) string {
	s := kv.New()
	s.Apply(1, b)
	items := s.List(kv.ListRequest{Limit: 1})
	if len(items.Items) == 1 {
		return items.Items[0].Key + ":" + string(items.Items[0].Value)
	}
	return fmt.Sprintf("%x", b)
}
