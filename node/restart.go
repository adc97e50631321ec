package node

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// restarts is the supervision strategy of a replica's roles. A role that
// panics is restarted from storage (the role actor has logged the panic with
// its message and stack); the first restart within the window is immediate,
// each further one waits twice as long as the one before (up to
// maxBackoff), so that a role failing on every message does not spin; and a
// role that fails more than max times within the window takes the replica
// down (fatal), since a live replica whose role silently does nothing is
// worse than a dead one that says why.
type restarts struct {
	max        int
	window     time.Duration
	initial    time.Duration
	maxBackoff time.Duration
	onRestart  func(role string)
	fatal      func(role string, failures int, reason any)
	after      func(d time.Duration, fn func()) func() bool // time.AfterFunc, replaceable in tests

	mu      sync.Mutex
	stopped bool
	pending map[*func() bool]struct{} // delayed restarts not yet run
}

var _ actor.SupervisorStrategy = (*restarts)(nil)

func newRestarts(max int, window time.Duration, onRestart func(string), fatal func(string, int, any)) *restarts {
	return &restarts{max: max, window: window, initial: 10 * time.Millisecond, maxBackoff: time.Second,
		onRestart: onRestart, fatal: fatal, pending: map[*func() bool]struct{}{},
		after: func(d time.Duration, fn func()) func() bool { return time.AfterFunc(d, fn).Stop }}
}

// delay is how long the n-th failure within the window waits before its
// restart.
func (r *restarts) delay(n int) time.Duration {
	if n <= 1 {
		return 0
	}
	d := r.initial
	for i := 2; i < n && d < r.maxBackoff; i++ {
		d *= 2
	}
	return min(d, r.maxBackoff)
}

// roleOf names a child by the last part of its PID (the supervisor spawns
// each role under its role's name).
func roleOf(child *actor.PID) string {
	id := child.Id
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		id = id[i+1:]
	}
	return id
}

// HandleFailure implements actor.SupervisorStrategy.
func (r *restarts) HandleFailure(_ *actor.ActorSystem, supervisor actor.Supervisor, child *actor.PID, rs *actor.RestartStatistics, reason any, _ any) {
	if rs.NumberOfFailures(r.window) == 0 {
		rs.Reset()
	}
	rs.Fail()
	n := rs.NumberOfFailures(r.window)
	role := roleOf(child)
	if n > r.max {
		supervisor.StopChildren(child)
		r.fatal(role, n, reason)
		return
	}
	if r.onRestart != nil {
		r.onRestart(role)
	}
	d := r.delay(n)
	if d == 0 {
		supervisor.RestartChildren(child)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return
	}
	var stop func() bool
	key := &stop
	stop = r.after(d, func() {
		r.mu.Lock()
		_, live := r.pending[key]
		delete(r.pending, key)
		r.mu.Unlock()
		if live {
			supervisor.RestartChildren(child)
		}
	})
	r.pending[key] = struct{}{}
}

// stop cancels the delayed restarts: the replica is stopping.
func (r *restarts) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for k := range r.pending {
		(*k)()
		delete(r.pending, k)
	}
}

// roleFailure is the error of a replica taken down by a role that kept
// failing.
func roleFailure(role string, failures int, window time.Duration, reason any) error {
	return fmt.Errorf("rsml: the %s role failed %d times within %v (last: %v); the replica stopped rather than run without it",
		role, failures, window, reason)
}
