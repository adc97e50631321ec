package pactor

import (
	"sync"
	"sync/atomic"

	"github.com/asynkron/protoactor-go/actor"
)

// safeMailbox works around a race in Proto.Actor's spawn (at the version we
// use): a process is added to the registry before its mailbox knows its
// dispatcher, so a message that a peer sends in that window schedules the
// mailbox on a nil dispatcher — a data race, and a nil-pointer panic in the
// sender's goroutine. A role is respawned while peers keep sending to it, so
// the window is real. safeMailbox holds whatever arrives before Start and
// hands it on, in order, once the inner mailbox is ready.
type safeMailbox struct {
	inner   actor.Mailbox
	ready   atomic.Bool
	mu      sync.Mutex
	pending []pendingPost
}

type pendingPost struct {
	msg    any
	system bool
}

// SafeMailbox returns a producer of unbounded mailboxes that hold what
// arrives before Start (see safeMailbox).
func SafeMailbox() actor.MailboxProducer {
	unbounded := actor.Unbounded()
	return func() actor.Mailbox { return &safeMailbox{inner: unbounded()} }
}

func (m *safeMailbox) PostUserMessage(msg any) {
	if m.ready.Load() || !m.hold(msg, false) {
		m.inner.PostUserMessage(msg)
	}
}

func (m *safeMailbox) PostSystemMessage(msg any) {
	if m.ready.Load() || !m.hold(msg, true) {
		m.inner.PostSystemMessage(msg)
	}
}

// hold queues msg if the mailbox is not ready yet; it reports whether it did.
func (m *safeMailbox) hold(msg any, system bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ready.Load() {
		return false
	}
	m.pending = append(m.pending, pendingPost{msg, system})
	return true
}

func (m *safeMailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.inner.RegisterHandlers(invoker, dispatcher)
}

func (m *safeMailbox) Start() {
	m.inner.Start()
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.pending {
		if p.system {
			m.inner.PostSystemMessage(p.msg)
		} else {
			m.inner.PostUserMessage(p.msg)
		}
	}
	m.pending = nil
	m.ready.Store(true)
}

func (m *safeMailbox) UserMessageCount() int { return m.inner.UserMessageCount() }
