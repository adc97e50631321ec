package proposer

import (
	"testing"

	"github.com/rsml-go/rsml/msg"
)

// A promiser's truncation point means every slot up to it is chosen: the new
// leader proposes nothing there (a no-op in a dropped slot could choose a
// second value), numbers new slots above it, and tells learners how far the
// log is chosen so that its own learner fetches the slots it lacks.
func TestLeaderNeverProposesAtOrBelowATruncationPoint(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 3)
	out := step(c, &Campaign{})
	probes, _ := find[*msg.Prepare](out)
	b := probes[0].Ballot
	step(c, &msg.Promise{From: 1, Ballot: b, Probe: true})
	step(c, &msg.Promise{From: 2, Ballot: b, Probe: true})
	step(c, &msg.Promise{From: 1, Ballot: b})
	out = step(c, &msg.Promise{From: 2, Ballot: b, Truncated: 10, Entries: []msg.Entry{
		{Slot: 12, Ballot: msg.Ballot{Round: 1, ID: 2}, Value: &msg.Value{Cmds: []msg.Command{{Data: []byte("x")}}}}}})
	if !c.IsLeader() {
		t.Fatal("not leader")
	}
	accepts, _ := find[*msg.Accept](out)
	if len(accepts) == 0 {
		t.Fatal("no recovery accept")
	}
	for _, p := range accepts[0].Proposals {
		if p.Slot <= 10 {
			t.Fatalf("proposed slot %d at or below truncation point 10", p.Slot)
		}
	}
	if got := accepts[0].Proposals; len(got) != 2 || got[0].Slot != 11 || !got[0].Value.IsNoop() || got[1].Slot != 12 {
		t.Fatalf("recovery %+v, want a no-op at 11 and the value at 12", got)
	}
	hbs, _ := find[*msg.Heartbeat](out)
	if len(hbs) == 0 || hbs[0].Commit != 10 {
		t.Fatalf("heartbeats %+v, want commit 10", hbs)
	}
	if next := c.Status().NextSlot; next != 13 {
		t.Fatalf("next slot %d, want 13", next)
	}
}

// A leader whose in-flight slots an acceptor has truncated (they are chosen;
// the acceptor ignores Accepts for them) learns it from the heartbeat ack,
// stops resending them and frees its window; its heartbeats tell every
// learner, its own included, that the log is chosen that far.
func TestHeartbeatAckTruncationFreesTheWindow(t *testing.T) {
	c := New(testConfig(1), msg.Ballot{}, 0)
	elect(t, c, nil)
	for _, d := range []string{"a", "b", "c"} {
		step(c, &msg.ClientRequest{Cmd: msg.Command{Data: []byte(d)}})
	}
	if st := c.Status(); st.InFlight != 2 || st.Queued == 0 {
		t.Fatalf("status %+v, want a full window of 2 and a queue", st)
	}
	out := step(c, &msg.HeartbeatAck{From: 2, Ballot: c.Ballot(), Seq: 1, Promised: c.Ballot(), Truncated: 2})
	accepts, _ := find[*msg.Accept](out)
	if len(accepts) == 0 || accepts[0].Proposals[0].Slot != 3 {
		t.Fatalf("after the ack: accepts %+v, want the queued command in slot 3", accepts)
	}
	for i := 0; i < 20; i++ {
		out = append(out, tick(c)...)
	}
	sawOwn := false
	for _, o := range out {
		switch m := o.Msg.(type) {
		case *msg.Accept:
			for _, p := range m.Proposals {
				if p.Slot <= 2 {
					t.Fatalf("slot %d resent after the acceptor reported it truncated", p.Slot)
				}
			}
		case *msg.Heartbeat:
			if o.To == (msg.Target{Node: 1, Role: msg.RoleLearner}) {
				sawOwn = true
				if m.Commit < 2 {
					t.Fatalf("heartbeat commit %d, want at least 2", m.Commit)
				}
			}
		}
	}
	if !sawOwn {
		t.Fatal("no heartbeat to the leader's own learner")
	}
}
