package pactor

import (
	"reflect"
	"sync"
	"testing"

	"github.com/asynkron/protoactor-go/actor"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recording is an inner mailbox that records what it is given.
type recording struct {
	mu    sync.Mutex
	posts []string
}

func (r *recording) add(s string) {
	r.mu.Lock()
	r.posts = append(r.posts, s)
	r.mu.Unlock()
}
func (r *recording) PostUserMessage(m any)                                   { r.add("user " + m.(string)) }
func (r *recording) PostSystemMessage(m any)                                 { r.add("system " + m.(string)) }
func (r *recording) RegisterHandlers(actor.MessageInvoker, actor.Dispatcher) {}
func (r *recording) Start()                                                  { r.add("start") }
func (r *recording) UserMessageCount() int                                   { return 0 }

// What arrives before Start waits, and reaches the inner mailbox after its
// Start, in order, user and system messages as they were; after Start
// everything goes straight through.
func TestSafeMailboxHoldsUntilStart(t *testing.T) {
	in := &recording{}
	m := &safeMailbox{inner: in}
	m.PostUserMessage("a")
	m.PostSystemMessage("b")
	m.PostUserMessage("c")
	if len(in.posts) != 0 {
		t.Fatalf("posted before Start reached the inner mailbox: %v", in.posts)
	}
	m.Start()
	m.PostUserMessage("d")
	want := []string{"start", "user a", "system b", "user c", "user d"}
	if !reflect.DeepEqual(in.posts, want) {
		t.Fatalf("inner mailbox got %v, want %v", in.posts, want)
	}
}

// Posts racing Start are neither lost nor reordered per sender.
func TestSafeMailboxRacingStart(t *testing.T) {
	in := &recording{}
	m := &safeMailbox{inner: in}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 100 {
				m.PostUserMessage(string(rune('a'+i)) + string(rune('0'+j%10)))
			}
		})
	}
	m.Start()
	wg.Wait()
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.posts) != 401 {
		t.Fatalf("%d posts reached the inner mailbox, want 400 and the start", len(in.posts))
	}
	last := map[byte]byte{}
	for _, p := range in.posts {
		if p == "start" {
			continue
		}
		s, n := p[5], p[6]
		if prev, ok := last[s]; ok && n != (prev-'0'+1)%10+'0' {
			t.Fatalf("sender %c: %c after %c", s, n, prev)
		}
		last[s] = n
	}
}

// The loop runs scheduled functions in order on one goroutine; after Close
// it runs what was queued, and later ones still run (on goroutines of their
// own).
func TestLoopDispatcher(t *testing.T) {
	d := NewLoopDispatcher(7)
	if d.Throughput() != 7 {
		t.Fatalf("throughput %d", d.Throughput())
	}
	var mu sync.Mutex
	var got []int
	done := make(chan struct{})
	for i := range 3 {
		d.Schedule(func() {
			mu.Lock()
			got = append(got, i)
			mu.Unlock()
			if i == 2 {
				close(done)
			}
		})
	}
	<-done
	if !reflect.DeepEqual(got, []int{0, 1, 2}) {
		t.Fatalf("ran %v, want in order", got)
	}
	d.Close()
	d.Close() // twice is fine
	ran := make(chan struct{})
	d.Schedule(func() { close(ran) })
	<-ran
	// A full queue never blocks Schedule.
	d2 := NewLoopDispatcher(1)
	block := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(10)
	for range 10 {
		d2.Schedule(func() { <-block; wg.Done() })
	}
	close(block)
	wg.Wait()
	d2.Close()
}
