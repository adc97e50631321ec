package proposer

import (
	"sync"

	"github.com/rsml-go/rsml/msg"
)

// Intake is where this replica's client requests wait for the proposer
// (node.Propose pushes, the Runner takes). Sent through the mailbox, every
// request woke the proposer's goroutine for a message it mostly just queued:
// about one goroutine wake per write at 64 clients, on the same two CPUs as
// the messages of the slot in flight. Here a request rings the proposer (a
// Doorbell in its mailbox) only when the proposer asked for it, because it
// has room to act on it; otherwise the proposer takes it at its next
// message. It is safe for concurrent use.
type Intake struct {
	mu    sync.Mutex
	reqs  []*msg.ClientRequest
	bytes int
	wantN int // ring once this many requests wait; 0: a Doorbell is on its way
	wantB int // or once their batchSize bytes reach this (0: no byte bound)
	ring  func()
}

// Doorbell tells the proposer that its Intake holds requests it asked for.
type Doorbell struct{}

// NewIntake returns an empty intake; ring must deliver a Doorbell to the
// proposer (without blocking).
func NewIntake(ring func()) *Intake {
	return &Intake{wantN: 1, ring: ring}
}

// Push adds a request and rings the proposer if it asked for as many.
func (in *Intake) Push(r *msg.ClientRequest) {
	in.mu.Lock()
	in.reqs = append(in.reqs, r)
	in.bytes += batchSize(&r.Cmd)
	ring := in.due()
	if ring {
		in.wantN, in.wantB = 0, 0
	}
	in.mu.Unlock()
	if ring {
		in.ring()
	}
}

// due reports whether the waiting requests reach what the proposer asked for.
func (in *Intake) due() bool {
	if in.wantN == 0 || len(in.reqs) == 0 {
		return false
	}
	return len(in.reqs) >= in.wantN || (in.wantB > 0 && in.bytes >= in.wantB)
}

// Take appends the waiting requests to dst, in arrival order, and empties the
// intake.
func (in *Intake) Take(dst []*msg.ClientRequest) []*msg.ClientRequest {
	in.mu.Lock()
	dst = append(dst, in.reqs...)
	clear(in.reqs)
	in.reqs, in.bytes = in.reqs[:0], 0
	in.mu.Unlock()
	return dst
}

// Want asks for a Doorbell once n requests, or bytes of them (0: no byte
// bound), wait; it reports whether that many already do, in which case no
// Doorbell comes and the caller takes them itself.
func (in *Intake) Want(n, bytes int) bool {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.wantN, in.wantB = max(n, 1), max(bytes, 0)
	if in.due() {
		in.wantN, in.wantB = 0, 0 // the caller takes them; it will ask again
		return true
	}
	return false
}
