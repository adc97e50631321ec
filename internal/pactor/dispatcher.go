package pactor

import "sync"

// LoopDispatcher runs one role actor's mailbox on a goroutine that lives as
// long as the replica. Proto.Actor's default dispatcher starts a goroutine
// each time an idle mailbox gets a message; the role actors call deep enough
// (decoding, storage) that each such goroutine grew its stack by copying,
// about 4% of CPU at 64 clients over TCP. A long-lived goroutine keeps its
// grown stack.
//
// A mailbox schedules itself at most once until it has run (Proto.Actor
// guards that with a CAS), so one slot in the queue is enough; Schedule never
// blocks all the same: if the queue is full (an old incarnation's mailbox of
// a respawned role scheduling at the same time) or the dispatcher is closed,
// it falls back to a goroutine of its own, as the default dispatcher does.
type LoopDispatcher struct {
	ch         chan func()
	done       chan struct{}
	throughput int
	once       sync.Once
}

// NewLoopDispatcher starts a dispatcher whose mailboxes yield after
// throughput messages; Close ends its goroutine.
func NewLoopDispatcher(throughput int) *LoopDispatcher {
	d := &LoopDispatcher{ch: make(chan func(), 4), done: make(chan struct{}), throughput: throughput}
	go d.loop()
	return d
}

func (d *LoopDispatcher) loop() {
	for {
		select {
		case fn := <-d.ch:
			fn()
		case <-d.done:
			// Run what was scheduled before close, so no mailbox is left
			// marked as scheduled with nobody to run it.
			for {
				select {
				case fn := <-d.ch:
					fn()
				default:
					return
				}
			}
		}
	}
}

// Schedule implements actor.Dispatcher.
func (d *LoopDispatcher) Schedule(fn func()) {
	select {
	case <-d.done:
		go fn()
		return
	default:
	}
	select {
	case d.ch <- fn:
	default:
		go fn()
	}
}

// Throughput implements actor.Dispatcher: how many messages a mailbox
// handles before it yields (runtime.Gosched) to other goroutines.
func (d *LoopDispatcher) Throughput() int { return d.throughput }

// Close ends the goroutine once it has run what was scheduled. Call it after
// the actors it serves have stopped.
func (d *LoopDispatcher) Close() { d.once.Do(func() { close(d.done) }) }
