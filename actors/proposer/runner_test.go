package proposer

import (
	"slices"
	"testing"
	"time"

	"github.com/rsml-go/rsml/actors/role"
	"github.com/rsml-go/rsml/msg"
)

// runnerOf elects a holding leader and wraps it in a Runner with an intake
// and a clock the test moves.
func runnerOf(t *testing.T) (*Runner, *Intake, *time.Duration, *int) {
	t.Helper()
	c := holdCore(t)
	rings := 0
	in := NewIntake(func() { rings++ })
	var now time.Duration
	return NewRunner(c, in, func() time.Duration { return now }, Hooks{}), in, &now, &rings
}

func runStep(r *Runner, m any) role.Ready {
	r.Step(m)
	rd := r.Ready()
	r.Advance()
	return rd
}

// The Runner arms a timer when the core starts to hold, sized by the commit
// latency it measured; its message releases that hold, a stale one does not,
// and a hold that ends first stops the timer.
func TestRunnerTimesTheHold(t *testing.T) {
	r, in, now, _ := runnerOf(t)
	c := r.Core()
	for range 4 {
		in.Push(&msg.ClientRequest{Cmd: msg.Command{Origin: 1, Reply: "w", Data: []byte("x")}})
	}
	if got := slotSizes(runStep(r, Doorbell{}).Messages); !slices.Equal(got, []int{4}) {
		t.Fatalf("the intake's 4 requests: slots %v, want one of 4", got)
	}
	*now += 300 * time.Microsecond
	rd := runStep(r, &msg.Committed{Commit: 1, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 1}})
	if !c.Holding() || len(rd.Timers) != 1 {
		t.Fatalf("after the slot was chosen: holding %v, timers %+v; want a hold and its timer", c.Holding(), rd.Timers)
	}
	if d := rd.Timers[0].After; d != 300*time.Microsecond {
		t.Fatalf("hold timer %v, want the commit latency measured, 300µs", d)
	}
	timer := rd.Timers[0].Msg
	// The intake is asked to ring once the answered clients are back.
	if n, _ := c.RequestsWanted(); n != 4 {
		t.Fatalf("holding for %d requests, want 4", n)
	}
	in.Push(&msg.ClientRequest{Cmd: msg.Command{Origin: 1, Reply: "w", Data: []byte("x")}})
	rd = runStep(r, releaseHold{gen: 0}) // a timer of no hold of this runner
	if !c.Holding() || len(slotSizes(rd.Messages)) != 0 {
		t.Fatal("a stale hold timer ended the hold")
	}
	rd = runStep(r, timer)
	if c.Holding() || !slices.Equal(slotSizes(rd.Messages), []int{1}) {
		t.Fatalf("the hold's timer: holding %v, slots %v; want the queued command to go", c.Holding(), slotSizes(rd.Messages))
	}
	// A hold that ends before its timer stops it.
	rd = runStep(r, &msg.Committed{Commit: 2, Ballot: c.Ballot(), Run: msg.Run{First: 1, Through: 2}})
	if !c.Holding() || len(rd.Timers) != 1 {
		t.Fatal("no second hold")
	}
	for range 3 {
		in.Push(&msg.ClientRequest{Cmd: msg.Command{Origin: 1, Reply: "w", Data: []byte("x")}})
	}
	rd = runStep(r, Doorbell{})
	if c.Holding() || !rd.StopTimers {
		t.Fatalf("the hold filled before its timer: holding %v, StopTimers %v", c.Holding(), rd.StopTimers)
	}
}

// Requests in the intake are stepped before the message that comes with
// them, and the intake is told when to ring next. (Commands of replica 2's
// clients, forwarded here: they make no hold.)
func TestRunnerTakesTheIntakeFirst(t *testing.T) {
	r, in, _, rings := runnerOf(t)
	c := r.Core()
	in.Push(&msg.ClientRequest{Cmd: msg.Command{Origin: 2, Reply: "a", Data: []byte("x")}})
	if *rings != 1 {
		t.Fatalf("%d rings for the first request, want 1", *rings)
	}
	runStep(r, Doorbell{})
	// The window holds a slot: more requests only queue, without a ring.
	in.Push(&msg.ClientRequest{Cmd: msg.Command{Origin: 2, Reply: "b", Data: []byte("x")}})
	if *rings != 1 {
		t.Fatalf("%d rings with the eager slot taken, want 1", *rings)
	}
	// A Committed that frees the window takes it along at once.
	rd := runStep(r, &msg.Committed{Commit: 1, Ballot: c.Ballot()})
	if got := slotSizes(rd.Messages); !slices.Equal(got, []int{1}) {
		t.Fatalf("after the window freed: slots %v, want the waiting request's", got)
	}
}
