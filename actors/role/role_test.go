package role

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/rsml-go/rsml/msg"
	"github.com/rsml-go/rsml/storage"
)

// journal records, in order, everything the driver does to storage and to
// the Env, so that tests can check the order the contract sets.
type journal struct {
	events []string
	fail   string // the storage write that fails ("ballot", "accepted", "chosen")
}

func (j *journal) add(e string) { j.events = append(j.events, e) }

type jBallots struct{ j *journal }

func (b jBallots) LoadBallot() (msg.Ballot, error) { return msg.Ballot{}, nil }
func (b jBallots) SaveBallot(bal msg.Ballot) error {
	if b.j.fail == "ballot" {
		return errors.New("disk full")
	}
	b.j.add("ballot " + bal.String())
	return nil
}

type jAcceptor struct{ j *journal }

func (a jAcceptor) Load() (storage.AcceptorState, error) { return storage.AcceptorState{}, nil }
func (a jAcceptor) Values([]uint64) ([]msg.Entry, error) {
	return nil, errors.New("the journal keeps no values")
}
func (a jAcceptor) Append(rec storage.AcceptorRecord) error {
	if a.j.fail == "accepted" {
		return errors.New("disk full")
	}
	a.j.add("accepted")
	return nil
}

type jChosen struct {
	storage.ChosenLog
	j *journal
}

func (c jChosen) Append(slot uint64, v *msg.Value) error {
	if c.j.fail == "chosen" {
		return errors.New("disk full")
	}
	c.j.add("append")
	return c.ChosenLog.Append(slot, v)
}

func (c jChosen) Reset(base uint64) error {
	c.j.add("reset")
	return c.ChosenLog.Reset(base)
}

func (c jChosen) Truncate(through uint64) error {
	c.j.add("truncate")
	return c.ChosenLog.Truncate(through)
}

type jStore struct {
	j   *journal
	mem *storage.Memory
}

func (s jStore) Proposer() storage.BallotLog      { return jBallots{s.j} }
func (s jStore) Acceptor() storage.AcceptorLog    { return jAcceptor{s.j} }
func (s jStore) Chosen() storage.ChosenLog        { return jChosen{s.mem.Chosen(), s.j} }
func (s jStore) Snapshots() storage.SnapshotStore { return s.mem.Snapshots() }

type jEnv struct{ j *journal }

func (e jEnv) Send(out []msg.Out)    { e.j.add("send " + strings.Repeat("m", len(out))) }
func (e jEnv) Save(job *SnapshotJob) { e.j.add("save") }
func (e jEnv) After(t Timer)         { e.j.add("timer " + t.After.String()) }
func (e jEnv) StopTimers()           { e.j.add("stop timers") }

// fakeCore hands out the Readys it is given, one per input.
type fakeCore struct {
	readys   []Ready
	advanced int
}

func (c *fakeCore) Step(any) {}
func (c *fakeCore) Tick()    {}
func (c *fakeCore) Ready() Ready {
	if len(c.readys) == 0 {
		return Ready{}
	}
	rd := c.readys[0]
	c.readys = c.readys[1:]
	return rd
}
func (c *fakeCore) Advance() { c.advanced++ }

var out2 = []msg.Out{{To: msg.Target{Node: 2, Role: msg.RoleLearner}}, {To: msg.Target{Node: 3, Role: msg.RoleLearner}}}

// TestDriverPersistsBeforeAnythingElse: every record of a Ready is durable,
// in the order of the contract, before the snapshot, the timers and the
// messages; then Advance.
func TestDriverPersistsBeforeAnythingElse(t *testing.T) {
	j := &journal{}
	core := &fakeCore{readys: []Ready{{
		Ballot:     msg.Ballot{Round: 3, ID: 1},
		Accepted:   &storage.AcceptorRecord{},
		Chosen:     ChosenWrites{Reset: true, ResetTo: 4, First: 5, Values: []*msg.Value{{}, {}}, Truncate: 4},
		Snapshot:   &SnapshotJob{Slot: 9},
		StopTimers: true,
		Timers:     []Timer{{After: time.Millisecond}},
		Messages:   out2,
	}}}
	d := NewDriver(core, jStore{j, storage.NewMemory()}, jEnv{j})
	if err := d.Step(nil); err != nil {
		t.Fatal(err)
	}
	want := []string{"ballot 3.1", "accepted", "reset", "append", "append", "save", "stop timers", "timer 1ms", "send mm"}
	if !reflect.DeepEqual(j.events, want) {
		t.Fatalf("driver did %q, want %q", j.events, want)
	}
	if core.advanced != 1 {
		t.Fatalf("Advance called %d times, want 1", core.advanced)
	}
}

// TestDriverSendsNothingItCouldNotPersist: a failed write stops the role;
// nothing of that Ready, and nothing later, is sent.
func TestDriverSendsNothingItCouldNotPersist(t *testing.T) {
	for _, what := range []string{"ballot", "accepted", "chosen"} {
		t.Run(what, func(t *testing.T) {
			j := &journal{fail: what}
			rd := Ready{Messages: out2, Snapshot: &SnapshotJob{}, Timers: []Timer{{}}}
			switch what {
			case "ballot":
				rd.Ballot = msg.Ballot{Round: 1, ID: 1}
			case "accepted":
				rd.Accepted = &storage.AcceptorRecord{}
			case "chosen":
				rd.Chosen = ChosenWrites{First: 1, Values: []*msg.Value{{}}}
			}
			core := &fakeCore{readys: []Ready{rd, {Messages: out2}}}
			d := NewDriver(core, jStore{j, storage.NewMemory()}, jEnv{j})
			if err := d.Step(nil); err == nil || errors.Is(err, ErrStopped) {
				t.Fatalf("a failed write: %v, want the write's error", err)
			}
			if err := d.Step(nil); !errors.Is(err, ErrStopped) {
				t.Fatalf("after a failed write: %v, want ErrStopped", err)
			}
			if err := d.Tick(); !errors.Is(err, ErrStopped) {
				t.Fatalf("a tick after a failed write: %v, want ErrStopped", err)
			}
			if len(j.events) != 0 || core.advanced != 0 {
				t.Fatalf("after a failed write the driver did %q and advanced %d times", j.events, core.advanced)
			}
		})
	}
}

// TestDriverFail: a core that asks to be restarted gets a *FailError and
// nothing of its Ready is carried out.
func TestDriverFail(t *testing.T) {
	j := &journal{}
	bad := errors.New("half restored")
	d := NewDriver(&fakeCore{readys: []Ready{{Fail: bad, Messages: out2, Ballot: msg.Ballot{Round: 1}}}}, jStore{j, storage.NewMemory()}, jEnv{j})
	err := d.Step(nil)
	var f *FailError
	if !errors.As(err, &f) || !errors.Is(err, bad) {
		t.Fatalf("Step: %v, want a FailError wrapping the core's error", err)
	}
	if len(j.events) != 0 {
		t.Fatalf("a failed core's Ready was carried out: %q", j.events)
	}
}

func TestSaveSnapshot(t *testing.T) {
	mem := storage.NewMemory()
	m := SaveSnapshot(mem.Snapshots(), &SnapshotJob{Slot: 7, Rev: 5, Encode: func() ([]byte, error) { return []byte("state"), nil }})
	if m.Slot != 7 || m.Err != nil {
		t.Fatalf("SaveSnapshot: %+v", m)
	}
	if s, ok, err := mem.Snapshots().Load(); err != nil || !ok || s.Slot != 7 || s.Rev != 5 || string(s.Data) != "state" {
		t.Fatalf("saved %+v %v %v", s, ok, err)
	}
	bad := errors.New("cannot encode")
	m = SaveSnapshot(mem.Snapshots(), &SnapshotJob{Slot: 9, Encode: func() ([]byte, error) { return nil, bad }})
	if !errors.Is(m.Err, bad) || m.Slot != 9 {
		t.Fatalf("a failed encode: %+v", m)
	}
	if s, _, _ := mem.Snapshots().Load(); s.Slot != 7 {
		t.Fatalf("a failed encode replaced the snapshot: slot %d", s.Slot)
	}
}
