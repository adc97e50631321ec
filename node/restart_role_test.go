package node

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/rsml-go/rsml/kv"
	"github.com/rsml-go/rsml/msg"
)

// fakeSupervisor records what a strategy asks of it.
type fakeSupervisor struct {
	mu       sync.Mutex
	restarts int
	stops    int
}

func (f *fakeSupervisor) Children() []*actor.PID        { return nil }
func (f *fakeSupervisor) EscalateFailure(any, any)      {}
func (f *fakeSupervisor) ResumeChildren(...*actor.PID)  {}
func (f *fakeSupervisor) RestartChildren(...*actor.PID) { f.mu.Lock(); f.restarts++; f.mu.Unlock() }
func (f *fakeSupervisor) StopChildren(...*actor.PID)    { f.mu.Lock(); f.stops++; f.mu.Unlock() }
func (f *fakeSupervisor) counts() (restarts, stops int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.restarts, f.stops
}

// The first restart is immediate, each later one within the window waits
// twice as long, up to a bound; one failure past the limit is fatal and no
// restart follows; a failure after a quiet window starts over.
func TestRestartsBackOffAndGiveUp(t *testing.T) {
	var restarted []string
	var fatal []string
	r := newRestarts(4, time.Hour, func(role string) { restarted = append(restarted, role) },
		func(role string, n int, reason any) { fatal = append(fatal, role) })
	var delays []time.Duration
	var timers []func()
	r.after = func(d time.Duration, fn func()) func() bool {
		delays = append(delays, d)
		timers = append(timers, fn)
		return func() bool { return true }
	}
	sup := &fakeSupervisor{}
	rs := actor.NewRestartStatistics()
	child := actor.NewPID("r1", "replica/executor")
	for range 4 {
		r.HandleFailure(nil, sup, child, rs, "boom", nil)
	}
	if got, _ := sup.counts(); got != 1 {
		t.Fatalf("%d immediate restarts, want 1 (the first)", got)
	}
	want := []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond}
	if len(delays) != 3 || delays[0] != want[0] || delays[1] != want[1] || delays[2] != want[2] {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	for _, fn := range timers {
		fn()
	}
	if got, _ := sup.counts(); got != 4 {
		t.Fatalf("%d restarts after the delays, want 4", got)
	}
	if len(restarted) != 4 || restarted[0] != "executor" {
		t.Fatalf("restarts counted %v", restarted)
	}
	r.HandleFailure(nil, sup, child, rs, "boom", nil) // the fifth within the window
	if restarts, stops := sup.counts(); restarts != 4 || stops != 1 || len(fatal) != 1 || fatal[0] != "executor" {
		t.Fatalf("past the limit: %d restarts, %d stops, fatal %v; want no restart, the role stopped, and fatal", restarts, stops, fatal)
	}
	if d := r.delay(30); d != time.Second {
		t.Fatalf("delay of the 30th failure %v, want the bound", d)
	}
	// Stopped, the strategy cancels the restarts it delayed.
	r2 := newRestarts(10, time.Hour, nil, func(string, int, any) {})
	cancelled := 0
	r2.after = func(d time.Duration, fn func()) func() bool { return func() bool { cancelled++; return true } }
	rs2 := actor.NewRestartStatistics()
	r2.HandleFailure(nil, sup, child, rs2, "boom", nil)
	r2.HandleFailure(nil, sup, child, rs2, "boom", nil)
	r2.stop()
	if cancelled != 1 {
		t.Fatalf("%d delayed restarts cancelled at stop, want 1", cancelled)
	}
}

// syncBuffer is a buffer safe for a logger's concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A role's panic is logged, with the role, the message and the stack, and
// counted; the role comes back.
func TestRolePanicIsLoggedAndCounted(t *testing.T) {
	var logs syncBuffer
	tc := startCluster(t, 3, Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	l := tc.leader()
	f := tc.follower(l)
	f.InjectCrash(msg.RoleExecutor)
	waitFor(t, func() bool { return strings.Contains(logs.String(), "role panicked") })
	line := ""
	for _, ln := range strings.Split(logs.String(), "\n") {
		if strings.Contains(ln, "role panicked") {
			line = ln
		}
	}
	for _, want := range []string{`"role":"executor"`, `"message":"*msg.Crash"`, `"panic":"injected crash"`, `goroutine`, `role.(*Actor).Receive`} {
		if !strings.Contains(line, want) {
			t.Errorf("the panic's log line lacks %s:\n%s", want, line)
		}
	}
	srv := f.Handler(HTTPConfig{})
	waitFor(t, func() bool {
		return strings.Contains(metricsText(t, srv), `rsml_role_restarts_total{role="executor"} 1`)
	})
	ctx := ctxFor(t, 10*time.Second)
	r, err := l.Put(ctx, "after", []byte("x"), kv.Cond{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return f.Status().Rev >= r.Rev })
}

// A role that keeps failing takes its replica down with a clear error,
// instead of a crash loop or a replica that silently does nothing.
func TestRepeatedRoleFailuresStopTheReplica(t *testing.T) {
	tc := startCluster(t, 3, Config{MaxRestarts: 2, RestartWindow: time.Minute})
	l := tc.leader()
	f := tc.follower(l)
	for range 3 {
		f.InjectCrash(msg.RoleLearner)
	}
	select {
	case <-f.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("three learner panics with MaxRestarts 2: the replica did not fail")
	}
	if err := f.Err(); err == nil || !strings.Contains(err.Error(), "learner") || !strings.Contains(err.Error(), "3 times") {
		t.Fatalf("Err = %v, want it to name the learner and its 3 failures", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	waitFor(t, func() bool {
		_, err := f.Put(ctx, "k", []byte("v"), kv.Cond{})
		return errors.Is(err, ErrStopped)
	})
	// The other two go on.
	if _, err := l.Put(ctxFor(t, 10*time.Second), "still", []byte("ok"), kv.Cond{}); err != nil {
		t.Fatal(err)
	}
	if tc.leader().Err() != nil {
		t.Fatal("the leader failed too")
	}
}

// metricsText is what GET /metrics of h answers.
func metricsText(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	return rec.Body.String()
}
